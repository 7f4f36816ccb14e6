; Display test guest: a VESA BIOS Extensions mode with a linear framebuffer, 800x600 at 32 bits
; per pixel, found in the BIOS's mode list (4F00h, 4F01h) rather than assumed, set with 4F02h
; (bit 14: linear), and drawn through the framebuffer in unreal mode (FS with a 4 GiB limit):
; picture.inc's picture in phase 0,
;   pixel (x, y) = XRGB((x * 5) >> 4, (y * 3) >> 3, (x XOR y) & 255)
; at PhysBasePtr + y * BytesPerScanLine + x * 4. display.py recomputes it.
; On COM1: "mode MMMM pitch PPPP" (hex), "lfb LLLLLLLL", then "drawn"; then halt.
; A missing mode or a failed call prints why and exits through the test-exit port with 2.
%include "stage1.inc"
%include "picture.inc"

main:
	mov si, s_lfb
	call picture_start	; interrupts off, FS in unreal mode
	xor al, al		; phase 0
	call picture_draw
	print drawn
.halt:	cli
	hlt
	jmp .halt

s_lfb:	db 13, 10, "lfb ", 0
drawn:	db "drawn", 13, 10, 0
