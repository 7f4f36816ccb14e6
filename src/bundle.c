/* being written */
extern int pcvm_placeholder_bundle;
