/* placeholder: the VNC server (being written) */
extern int pcvm_placeholder_vnc;
