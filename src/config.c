/* being written */
extern int pcvm_placeholder_config;
