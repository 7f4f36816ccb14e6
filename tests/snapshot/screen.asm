; Snapshot test guest for the screen: a VESA 800x600x32 linear-framebuffer mode (found in the
; BIOS's mode list as tests/display/vbe.asm does), drawn in unreal mode with picture.inc's
; picture of phase P (0, 1, 2, ...):
;   pixel (x, y) = XRGB(((x * 5) >> 4) + P * 64, (y * 3) >> 3, ((x XOR y) & 255) XOR (P * 55h))
; (8-bit channels, wrapping). Phase 0 is drawn at start; on COM1 "mode MMMM pitch PPPP" (hex),
; then "drawn 00". Then each key (INT 16h) changes the screen: 't' switches to text mode 3 and
; writes a line there ("text" on COM1); any other key draws the next phase, setting the VBE
; mode again when needed ("drawn PP"). A failure prints why and exits through port F4h with 2.
%include "stage1.inc"
%include "picture.inc"

main:
	xor si, si		; no framebuffer address on COM1
	call picture_start
	call draw

.key:	xor ah, ah		; wait for a key
	int 0x16
	cmp al, 't'
	je .text
	inc byte [phase]
	cmp byte [in_text], 0
	je .draw
	call set_vbe
.draw:	call draw
	jmp .key
.text:	mov ax, 0x0003
	int 0x10
	mov byte [in_text], 1
	mov si, s_screen
.put:	lodsb
	test al, al
	jz .shown
	mov ah, 0x0E
	xor bx, bx
	int 0x10
	jmp .put
.shown:	print s_text
	jmp .key

set_vbe:
	call vbe_set_lfb
	mov byte [in_text], 0
	ret

draw:				; the picture of [phase]
	call unreal
	sti
	mov al, [phase]
	call picture_draw
	print s_drawn
	mov al, [phase]
	call put_hex8
	print crlf
	ret

phase:	  db 0
in_text:  db 0

s_drawn:  db "drawn ", 0
s_text:	  db "text", 13, 10, 0
s_screen: db "pcvm snapshot test: text mode now", 0
	times 4608 - ($ - $$) db 0
