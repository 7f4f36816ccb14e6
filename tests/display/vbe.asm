; Display test guest: a VESA BIOS Extensions mode with a linear framebuffer, 800x600 at 32 bits
; per pixel, found in the BIOS's mode list (4F00h, 4F01h) rather than assumed, set with 4F02h
; (bit 14: linear), and drawn through the framebuffer in unreal mode (FS with a 4 GiB limit):
;   pixel (x, y) = XRGB((x * 5) >> 4, (y * 3) >> 3, (x XOR y) & 255)
; at PhysBasePtr + y * BytesPerScanLine + x * 4. display.py recomputes it.
; On COM1: "mode MMMM pitch PPPP" (hex), "lfb LLLLLLLL", then "drawn"; then halt.
; A missing mode or a failed call prints why and exits through the test-exit port with 2.
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
	print s_lfb
	mov ax, [MODE + 0x2A]
	call put_hex16
	mov ax, [MODE + 0x28]
	call put_hex16
	print crlf

	mov bx, [mode]
	or bx, 0x4000
	mov ax, 0x4F02
	int 0x10
	cmp ax, 0x004F
	jne fail_set

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
	shl ebx, 16		; red
	mov eax, ecx
	xor eax, edx
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

	print drawn
.halt:	cli
	hlt
	jmp .halt

fail_info:
	print s_noinfo
	jmp fail
fail_mode:
	print s_nomode
	jmp fail
fail_set:
	print s_noset
fail:	exit_with 0x02

mode:	dw 0
line:	dd 0
gdt:	dq 0
	dq 0x00CF92000000FFFF	; data, base 0, limit 4 GiB
gdtr:	dw 15
	dd gdt

s_mode:	db "mode ", 0
s_pitch: db " pitch ", 0
s_lfb:	db 13, 10, "lfb ", 0
s_noinfo: db "4F00h failed", 13, 10, 0
s_nomode: db "no 800x600x32 mode with a linear framebuffer", 13, 10, 0
s_noset: db "4F02h failed", 13, 10, 0
drawn:	db "drawn", 13, 10, 0
