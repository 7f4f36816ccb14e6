/* placeholder: PNG screenshots (being written) */
extern int pcvm_placeholder_screenshot;
