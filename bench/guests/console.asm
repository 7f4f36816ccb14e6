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
%define VBE_NO_MODE_MSG "no such VBE mode with a linear framebuffer, or a VBE call failed"
%include "stage1.inc"
%include "vbe.inc"
%include "unreal.inc"

%define PATTERN 0x200000

main:
	mov ax, WIDTH
	mov bx, HEIGHT
	mov si, s_lfb
	call vbe_start		; interrupts off; DS, ES in unreal mode

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
	mov edx, [VBE_LFB]	; line start
	mov bx, HEIGHT
.line:	mov edi, edx
	mov ecx, WIDTH
	a32 rep movsd
	movzx eax, word [VBE_PITCH]
	add edx, eax
	dec bx
	jnz .line
	mov al, '.'
	call putc
	inc ebp
	jmp .frame

s_lfb:	db " lfb ", 0
s_drawing: db "drawing", 13, 10, 0
