; Display test guest: mode 12h (640x480, 16 colours, four planes) drawn through the graphics
; controller's write modes, as display.py recomputes it:
;   - a 4x4 grid of 160x120 rectangles, colour = grid row * 4 + grid column (write mode 0 with
;     set/reset on all planes);
;   - in each rectangle, at rows 40-79 and columns 40-119 inside it, a checkerboard of colour
;     15 - rectangle colour on the pixels where x + y is odd (write mode 2, bit mask 55h/AAh,
;     the other pixels kept through the latches);
;   - the diagonal (t, t), t = 0..479, XORed with 15 (write mode 2, function XOR);
;   - the line (160 + t, 479 - t), t = 0..479, in colour 10 (write mode 3 from set/reset).
; Then "drawn" on COM1 and halt.
%include "stage1.inc"

%define GC 0x3CE

%macro gc 2			; gc INDEX, VALUE
	mov dx, GC
	mov ax, (%2 << 8) | %1
	out dx, ax
%endmacro

main:
	mov ax, 0x0012
	int 0x10
	mov ax, 0xA000
	mov es, ax
	cld

	; rectangles: write mode 0, set/reset enabled on all planes
	gc 0x05, 0x00
	gc 0x01, 0x0F
	gc 0x08, 0xFF
	gc 0x03, 0x00
	xor bx, bx		; BX = rectangle 0..15
.rect:	mov dx, GC
	mov al, 0x00		; set/reset = the colour
	mov ah, bl
	out dx, ax
	call rect_origin	; DI = its first byte
	mov si, 120
.rline:	mov cx, 20
	rep stosb
	add di, 80 - 20
	dec si
	jnz .rline
	inc bx
	cmp bx, 16
	jb .rect

	; checkerboards: write mode 2
	gc 0x01, 0x00
	gc 0x05, 0x02
	xor bx, bx
.check:	call rect_origin
	add di, 40 * 80 + 5	; row 40, column 40 of the rectangle
	mov si, 40		; lines
	mov bp, 0		; line parity (the rectangles start on even lines)
.cline:	mov dx, GC
	mov al, 0x08
	mov ah, 0x55		; even line: odd pixels
	test bp, 1
	jz .mask
	mov ah, 0xAA
.mask:	out dx, ax
	mov cx, 10		; 80 pixels
	mov al, 15
	sub al, bl		; colour 15 - rectangle
.cbyte:	mov ah, [es:di]		; load the latches
	mov [es:di], al
	inc di
	loop .cbyte
	add di, 80 - 10
	inc bp
	dec si
	jnz .cline
	inc bx
	cmp bx, 16
	jb .check

	; the diagonal, XOR 15: write mode 2, function XOR
	gc 0x03, 0x18
	xor cx, cx		; t
.diag:	mov ax, 80
	mul cx			; DX:AX = t * 80
	mov di, ax
	mov ax, cx
	shr ax, 3
	add di, ax
	mov dx, GC
	mov al, 0x08
	mov ah, 0x80
	push cx
	and cl, 7
	shr ah, cl
	pop cx
	out dx, ax
	mov al, [es:di]
	mov byte [es:di], 15
	inc cx
	cmp cx, 480
	jb .diag

	; the other line, colour 10: write mode 3 (data AND bit mask selects the pixels),
	; function replace
	gc 0x03, 0x00
	gc 0x05, 0x03
	gc 0x08, 0xFF
	gc 0x00, 10
	xor cx, cx		; t
.anti:	mov ax, 479
	sub ax, cx
	mov dx, 80
	mul dx
	mov di, ax		; (479 - t) * 80
	mov ax, cx
	add ax, 160
	mov bx, ax
	shr ax, 3
	add di, ax
	and bl, 7		; x & 7
	push cx
	mov cl, bl
	mov al, 0x80
	shr al, cl
	pop cx
	mov ah, [es:di]		; load the latches
	mov [es:di], al
	inc cx
	cmp cx, 480
	jb .anti

	gc 0x05, 0x00
	gc 0x00, 0x00
	print drawn
.halt:	cli
	hlt
	jmp .halt

; rect_origin: BX = rectangle -> DI = offset of its top-left byte ((BX/4)*120 lines, BX%4 * 20)
rect_origin:
	push ax
	push dx
	mov ax, bx
	shr ax, 2
	mov dx, 120 * 80
	mul dx
	mov di, ax
	mov ax, bx
	and ax, 3
	mov dx, 20
	mul dx
	add di, ax
	pop dx
	pop ax
	ret

drawn:	db "drawn", 13, 10, 0
