/* placeholder: VGA rendering (being written) */
extern int pcvm_placeholder_vga_render;
