/* placeholder: the control socket (being written) */
extern int pcvm_placeholder_control;
