; Display test guest: an 80x25 text screen in mode 3 with known characters and attributes.
; The cursor is hidden and attribute bit 7 selects bright backgrounds (no blink), so the
; picture is still. display.py builds the same screen from the BIOS font and checks it pixel
; by pixel and through the "text-screen" control command; the layout here and there must agree:
;   row 0        banner text in 1Fh over the whole row
;   rows 2-17    cols 2-17: all 256 characters (char = row*16 + col), 0Eh on even rows,
;                70h on odd rows
;                cols 22-53: every attribute (background = row, foreground = col):
;                B1h (medium shade) then C5h (a line graphics cross) in each
;   rows 19-21   a double-line box in 1Eh around "drawn" in 4Fh at cols 60-71
;   row 24       a pangram in 07h
; "drawn" goes to COM1 before row 24 is written; then the guest halts.
%include "stage1.inc"

main:
	mov ax, 0x0003
	int 0x10
	mov ah, 0x01		; cursor off
	mov cx, 0x2000
	int 0x10
	mov ax, 0x1003		; attribute bit 7: bright background instead of blink
	xor bx, bx
	int 0x10
	mov ax, 0xB800
	mov es, ax
	cld

	; row 0: the banner
	xor di, di
	mov cx, 80
	mov ax, 0x1F20
	rep stosw
	mov di, 2 * 2
	mov si, banner
	mov ah, 0x1F
	call putstr

	; rows 2-17: the font and the attributes
	xor bx, bx		; BL = row 0-15
.row:	mov al, bl
	add al, 2
	mov ah, 160
	mul ah
	mov di, ax
	add di, 2 * 2		; column 2
	mov ah, 0x0E
	test bl, 1
	jz .even
	mov ah, 0x70
.even:	mov al, bl
	shl al, 4		; first character of the row
	mov cx, 16
.font:	stosw
	inc al
	loop .font
	add di, 4 * 2		; column 22
	mov ah, bl
	shl ah, 4		; background = row, foreground 0..15
	mov cx, 16
.attr:	mov al, 0xB1
	stosw
	mov al, 0xC5
	stosw
	inc ah
	loop .attr
	inc bl
	cmp bl, 16
	jb .row

	; rows 19-21: a box around "drawn"
	mov di, (19 * 80 + 60) * 2
	mov ah, 0x1E
	mov al, 0xC9
	stosw
	mov al, 0xCD
	mov cx, 10
	rep stosw
	mov al, 0xBB
	stosw
	mov di, (20 * 80 + 60) * 2
	mov al, 0xBA
	stosw
	mov si, boxtext
	mov ah, 0x4F
	call putstr
	mov ah, 0x1E
	mov al, 0xBA
	stosw
	mov di, (21 * 80 + 60) * 2
	mov al, 0xC8
	stosw
	mov al, 0xCD
	mov cx, 10
	rep stosw
	mov al, 0xBC
	stosw

	print drawn
	; row 24: a pangram, after the last exit: the display shows these writes, which KVM
	; queues without an exit (pcvm posts the VGA window's writes), only if it takes them
	; from the queue itself before it renders
	mov di, 24 * 160
	mov si, pangram
	mov ah, 0x07
	call putstr
.halt:	cli
	hlt
	jmp .halt

; putstr: DS:SI zero-terminated, to ES:DI with attribute AH
putstr:	lodsb
	test al, al
	jz .done
	stosw
	jmp putstr
.done:	ret

banner:	db "pcvm display test: VGA text mode 3, 80x25, 9-dot cells", 0
boxtext: db "  drawn   ", 0
pangram: db "The quick brown fox jumps over the lazy dog. 0123456789 !@#$%^&*()[]{}<>~", 0
drawn:	db "drawn", 13, 10, 0
