; Snapshot test guest for the screen: a VESA 800x600x32 linear-framebuffer mode (found in the
; BIOS's mode list as tests/display/vbe.asm does), drawn in unreal mode with the picture of
; phase P (0, 1, 2, ...):
;   pixel (x, y) = XRGB(((x * 5) >> 4) + P * 64, (y * 3) >> 3, ((x XOR y) & 255) XOR (P * 55h))
; (8-bit channels, wrapping). Phase 0 is drawn at start; on COM1 "mode MMMM pitch PPPP" (hex),
; then "drawn 00". Then each key (INT 16h) changes the screen: 't' switches to text mode 3 and
; writes a line there ("text" on COM1); any other key draws the next phase, setting the VBE
; mode again when needed ("drawn PP"). A failure prints why and exits through port F4h with 2.
%include "stage1.inc"

%define INFO 0x2000		; VbeInfoBlock
%define MODE 0x1000		; ModeInfoBlock

main:
	mov dword [INFO], 'VBE2'
	mov ax, 0x4F00
	mov di, INFO
	int 0x10
	cmp ax, 0x004F
	jne fail_info
	lfs si, [INFO + 0x0E]	; VideoModePtr
.next:	mov cx, [fs:si]
	cmp cx, 0xFFFF
	je fail_mode
	add si, 2
	mov ax, 0x4F01
	mov di, MODE
	int 0x10
	cmp ax, 0x004F
	jne .next
	cmp word [MODE + 0x12], 800
	jne .next
	cmp word [MODE + 0x14], 600
	jne .next
	cmp byte [MODE + 0x19], 32	; BitsPerPixel
	jne .next
	cmp byte [MODE + 0x1B], 6	; direct colour
	jne .next
	test word [MODE], 0x80		; linear framebuffer available
	jz .next
	mov [mode], cx
	print s_mode
	mov ax, cx
	call put_hex16
	print s_pitch
	mov ax, [MODE + 0x10]
	call put_hex16
	print crlf
	call set_vbe
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
	mov bx, [mode]
	or bx, 0x4000
	mov ax, 0x4F02
	int 0x10
	cmp ax, 0x004F
	jne fail_set
	mov byte [in_text], 0
	ret

draw:				; the picture of [phase]
	cli
	lgdt [gdtr]		; unreal mode: FS with a 4 GiB limit
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp $+2
	mov bx, 0x08
	mov fs, bx
	and al, 0xFE
	mov cr0, eax
	jmp 0:.real
.real:	xor ax, ax
	mov fs, ax
	sti

	movzx eax, byte [phase]
	shl eax, 6
	mov [red_add], al
	movzx eax, byte [phase]
	imul eax, eax, 0x55
	mov [blue_xor], al
	mov eax, [MODE + 0x28]
	mov [line], eax		; the line's first pixel
	movzx ebp, word [MODE + 0x10]
	xor edx, edx		; y
.row:	lea eax, [edx * 2 + edx]
	shr eax, 3
	shl eax, 8
	mov esi, eax		; green of this line, in place
	mov edi, [line]
	add [line], ebp
	xor ecx, ecx		; x
.col:	lea ebx, [ecx * 4 + ecx]
	shr ebx, 4
	add bl, [red_add]
	movzx ebx, bl
	shl ebx, 16		; red
	mov eax, ecx
	xor eax, edx
	xor al, [blue_xor]
	movzx eax, al		; blue
	or eax, ebx
	or eax, esi
	mov [fs:edi], eax
	add edi, 4
	inc ecx
	cmp ecx, 800
	jb .col
	inc edx
	cmp edx, 600
	jb .row
	print s_drawn
	mov al, [phase]
	call put_hex8
	print crlf
	ret

fail_info:
	print s_noinfo
	jmp fail
fail_mode:
	print s_nomode
	jmp fail
fail_set:
	print s_noset
fail:	exit_with 0x02

mode:	  dw 0
phase:	  db 0
in_text:  db 0
red_add:  db 0
blue_xor: db 0
line:	  dd 0
gdt:	  dq 0
	  dq 0x00CF92000000FFFF	; data, base 0, limit 4 GiB
gdtr:	  dw 15
	  dd gdt

s_mode:	  db "mode ", 0
s_pitch:  db " pitch ", 0
s_noinfo: db "4F00h failed", 13, 10, 0
s_nomode: db "no 800x600x32 mode with a linear framebuffer", 13, 10, 0
s_noset:  db "4F02h failed", 13, 10, 0
s_drawn:  db "drawn ", 0
s_text:	  db "text", 13, 10, 0
s_screen: db "pcvm snapshot test: text mode now", 0
	times 4608 - ($ - $$) db 0
