; Display test guest: mode 13h (320x200, 256 colours, chained) with a palette of its own:
;   DAC entry i = (i >> 2, i & 63, (255 - i) >> 2), programmed through ports 3C8h/3C9h;
;   pixel (x, y) = ((x XOR y) + (y >> 1)) & 255, written to A000:y*320+x.
; display.py recomputes the picture. Then "drawn" on COM1 and halt.
%include "stage1.inc"

main:
	mov ax, 0x0013
	int 0x10

	mov dx, 0x3C8
	xor al, al
	out dx, al
	inc dx			; 3C9h: R, G, B of entry 0, 1, ...
	xor cx, cx
.dac:	mov al, cl
	shr al, 2
	out dx, al
	mov al, cl
	and al, 63
	out dx, al
	mov al, 255
	sub al, cl
	shr al, 2
	out dx, al
	inc cx
	cmp cx, 256
	jb .dac

	mov ax, 0xA000
	mov es, ax
	cld
	xor di, di
	xor dx, dx		; y
.row:	mov bx, dx
	shr bx, 1		; y >> 1
	xor cx, cx		; x
.col:	mov ax, cx
	xor ax, dx
	add ax, bx
	stosb
	inc cx
	cmp cx, 320
	jb .col
	inc dx
	cmp dx, 200
	jb .row

	print drawn
.halt:	cli
	hlt
	jmp .halt

drawn:	db "drawn", 13, 10, 0
