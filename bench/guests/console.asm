; bench/console.sh's guest: redraws the whole screen of a VESA linear-framebuffer mode, WIDTH x
; HEIGHT at 32 bits per pixel (default 800x600; -DWIDTH=.. -DHEIGHT=..), over and over, each
; frame different in every pixel, so that a VNC server has a full-screen update to send each
; time it looks.
;   - The mode comes from the BIOS's mode list (4F00h/4F01h), set with 4F02h and bit 14
;     (linear); "mode MMMM pitch PPPP lfb LLLLLLLL" on COM1.
;   - Unreal mode (DS and ES with 4 GiB limits, bases 0) lets 32-bit string instructions reach
;     the framebuffer and a pattern at 2 MiB: W*H + 1024 pixels, pixel i =
;     XRGB(i & 255, (i >> 3) & 255, (i >> 11) & 255), built once.
;   - Frame k copies the pattern from pixel 4 * (k mod 256) on, line by line (a32 rep movsd):
;     a picture that slides four pixels left each frame. A "." on COM1 after each frame lets
;     the benchmark count the frames the guest drew.
; "drawing" on COM1 when the loop starts. Never exits; the benchmark kills the VMM.
; Build: nasm -f bin -i tests/guests/ bench/guests/console.asm -o console.bin
%ifndef WIDTH
%define WIDTH 800
%endif
%ifndef HEIGHT
%define HEIGHT 600
%endif
%include "stage1.inc"

%define INFO 0x2000
%define MODE 0x1000
%define PATTERN 0x200000

main:
	mov dword [INFO], 'VBE2'
	mov ax, 0x4F00
	mov di, INFO
	int 0x10
	cmp ax, 0x004F
	jne fail
	lfs si, [INFO + 0x0E]
.next:	mov cx, [fs:si]
	cmp cx, 0xFFFF
	je fail
	add si, 2
	mov ax, 0x4F01
	mov di, MODE
	int 0x10
	cmp ax, 0x004F
	jne .next
	cmp word [MODE + 0x12], WIDTH
	jne .next
	cmp word [MODE + 0x14], HEIGHT
	jne .next
	cmp byte [MODE + 0x19], 32
	jne .next
	cmp byte [MODE + 0x1B], 6
	jne .next
	test word [MODE], 0x80
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
	jne fail

	cli
	lgdt [gdtr]		; unreal mode: DS, ES with 4 GiB limits
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp $+2
	mov bx, 0x08
	mov ds, bx
	mov es, bx
	and al, 0xFE
	mov cr0, eax
	jmp 0:.real
.real:	xor ax, ax
	mov ds, ax
	mov es, ax

	; the pattern
	mov edi, PATTERN
	xor ecx, ecx
.pat:	mov eax, ecx
	shr eax, 11
	and eax, 0xFF
	shl eax, 8
	mov ebx, ecx
	shr ebx, 3
	mov al, bl
	shl eax, 8
	mov al, cl
	mov [edi], eax
	add edi, 4
	inc ecx
	cmp ecx, WIDTH * HEIGHT + 1024
	jb .pat

	print s_drawing
	xor ebp, ebp		; frame
.frame:	mov esi, ebp
	and esi, 0xFF
	shl esi, 4		; 4 pixels a frame
	add esi, PATTERN
	mov edx, [MODE + 0x28]	; line start
	mov bx, HEIGHT
.line:	mov edi, edx
	mov ecx, WIDTH
	a32 rep movsd
	movzx eax, word [MODE + 0x10]
	add edx, eax
	dec bx
	jnz .line
	mov al, '.'
	call putc
	inc ebp
	jmp .frame

fail:	print s_fail
	exit_with 0x02

mode:	dw 0
gdt:	dq 0
	dq 0x00CF92000000FFFF
gdtr:	dw 15
	dd gdt
s_mode:	db "mode ", 0
s_pitch: db " pitch ", 0
s_lfb:	db " lfb ", 0
s_drawing: db "drawing", 13, 10, 0
s_fail:	db "no such VBE mode with a linear framebuffer, or a VBE call failed", 13, 10, 0
