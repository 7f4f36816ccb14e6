/* placeholder: keyboard tables (being written) */
extern int pcvm_placeholder_keymap;
