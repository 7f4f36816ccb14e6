; Display test guest: one picture in each of many VGA and VBE modes, for a differential check
; of pcvm against QEMU (display.py's "modes" test). For each step the guest draws, prints
; "step NN WHAT" on COM1 and waits for a key (INT 16h AH=00h); the test compares the two
; VMMs' screens and presses Return in both. "done" and exit 0x10 at the end.
;   01 80x50 text: mode 3 with the 8x8 font (AX=1112h), 4000 cells of every char/attribute
;   02-04 16-colour planar modes 0Dh, 0Eh, 10h: 16 bands, then stripes through the bit mask
;   05 mode 12h, the bands, after INT 10h AX=1000h (palette register 2 = 3Ch) and AX=1010h
;      (DAC entry 3Fh = 10,20,30)
;   06-07 CGA modes 04h and 06h: both interleaved banks at B800h filled with byte patterns
;   08 VBE 640x480x8 through the 64 KiB window (4F05h), with its own palette
;   09 the same screen after 4F08h (8-bit DAC) and 4F09h (an 8-bit palette)
;   10 VBE 640x480x16 (5:6:5), 11 VBE 640x480x15 (5:5:5), 12 VBE 640x480x24, through
;      the linear framebuffer
;   13 VBE 640x480x32 with a 1024-pixel logical line (4F06h) and the display start moved
;      to (64, 100) (4F07h)
;   14 mode 3 again: 80x25 text with the 8x16 font, as the BIOS restores it
%include "stage1.inc"
%include "vbe.inc"
%include "unreal.inc"

%define GC 0x3CE

main:
	; 01: 80x50 text
	mov ax, 0x0003
	int 0x10
	mov ax, 0x1112
	xor bl, bl
	int 0x10
	call text_start
.t50:	mov al, cl		; character = cell
	mov ah, cl
	rol ah, 3
	xor ah, ch		; attribute: a mix, bit 7 blinking on some
	and ah, 0x7F
	stosw
	inc cx
	cmp cx, 80 * 50
	jb .t50
	mov si, s01
	call step

	; 02-04: planar modes
	mov ax, 0x000D
	int 0x10
	mov bp, 40
	mov dx, 200
	call planar
	mov si, s02
	call step
	mov ax, 0x000E
	int 0x10
	mov bp, 80
	mov dx, 200
	call planar
	mov si, s03
	call step
	mov ax, 0x0010
	int 0x10
	mov bp, 80
	mov dx, 350
	call planar
	mov si, s04
	call step

	; 05: mode 12h with palette changes
	mov ax, 0x0012
	int 0x10
	mov bp, 80
	mov dx, 480
	call planar
	mov ax, 0x1000
	mov bx, 0x3C02		; palette register 2 = 3Ch
	int 0x10
	mov ax, 0x1010
	mov bx, 0x003F		; DAC entry 3Fh
	mov dh, 10
	mov ch, 20
	mov cl, 30
	int 0x10
	mov si, s05
	call step

	; 06-07: CGA modes
	mov ax, 0x0004
	int 0x10
	call cga_fill
	mov si, s06
	call step
	mov ax, 0x0006
	int 0x10
	call cga_fill
	mov si, s07
	call step

	; 08: VBE 640x480x8, banked
	mov ax, 640
	mov bx, 480
	mov cx, (VBE_ANY_MODEL << 8) | 8
	call vbe_find_mode
	mov bx, cx		; without bit 14: the window
	mov ax, 0x4F02
	int 0x10
	mov dx, 0x3C8		; palette: i -> (i >> 2, 63 - (i >> 2), (i * 3) & 63)
	xor al, al
	out dx, al
	inc dx
	xor cx, cx
.pal:	mov al, cl
	shr al, 2
	out dx, al
	mov al, 63
	mov ah, cl
	shr ah, 2
	sub al, ah
	out dx, al
	mov al, cl
	mov ah, 3
	mul ah
	and al, 63
	out dx, al
	inc cx
	cmp cx, 256
	jb .pal
	mov ax, 0xA000
	mov es, ax
	xor bp, bp		; bank
.bank:	mov ax, 0x4F05
	xor bx, bx
	mov dx, bp
	int 0x10
	xor di, di
.px:	mov ax, di		; offset o = bank * 65536 + di: x = o % 640, y = o / 640
	mov dx, bp
	mov bx, 640
	div bx			; AX = y, DX = x
	xor ax, dx
	stosb
	test di, di
	jnz .px
	inc bp
	cmp bp, 5		; 5 banks: 327680 bytes > 640 * 480
	jb .bank
	mov si, s08
	call step

	; 09: 8-bit DAC and a palette through 4F09h: i -> (R, G, B) = (i, 255 - i, i ^ 0x5A)
	mov ax, 0x4F08
	mov bx, 0x0800
	int 0x10
	mov ax, 0x3000
	mov es, ax
	xor di, di
	xor cx, cx
.p8:	mov al, cl
	xor al, 0x5A
	mov [es:di], al		; blue
	mov al, 255
	sub al, cl
	mov [es:di + 1], al	; green
	mov [es:di + 2], cl	; red
	mov byte [es:di + 3], 0
	add di, 4
	inc cx
	cmp cx, 256
	jb .p8
	mov ax, 0x4F09
	xor bl, bl
	mov cx, 256
	xor dx, dx
	xor di, di		; ES:DI = the table
	int 0x10
	mov si, s09
	call step

	; 10: VBE 640x480x16: pixel = ((x >> 4) << 11) | ((y >> 3) << 5) | ((x ^ y) & 31)
	mov cl, 16
	mov si, pixel565
	call fill_640x480
	mov si, s10
	call step

	; 11: VBE 640x480x15: pixel = ((x >> 4) & 31) << 10 | ((y >> 3) & 31) << 5 | (x ^ y) & 31
	mov cl, 15
	mov si, pixel555
	call fill_640x480
	mov si, s11
	call step

	; 12: VBE 640x480x24: bytes B, G, R = x & 255, y & 255, (x + y) & 255
	mov cl, 24
	mov si, pixel888
	call fill_640x480
	mov si, s12
	call step

	; 13: VBE 640x480x32, 1024-pixel lines, display start (64, 100); drawn where it shows,
	; x 64..703, y 100..579: pixel = XRGB(x >> 2, y >> 2, (x ^ y) & 255)
	mov cl, 32
	call set_640x480
	mov ax, 0x4F06
	xor bl, bl		; set the logical line length in pixels
	mov cx, 1024
	int 0x10
	mov edx, 100
.r32:	mov ecx, 64
	mov edi, edx
	shl edi, 10
	add edi, ecx
	shl edi, 2		; (y * 1024 + x) * 4
	add edi, [lfb]
.c32:	mov eax, ecx
	shr eax, 2
	shl eax, 16
	mov ebx, edx
	shr ebx, 2
	mov ah, bl
	mov ebx, ecx
	xor ebx, edx
	mov al, bl
	mov [fs:edi], eax
	add edi, 4
	inc ecx
	cmp ecx, 704
	jb .c32
	inc edx
	cmp edx, 580
	jb .r32
	mov ax, 0x4F07
	xor bx, bx		; set display start
	mov cx, 64
	mov dx, 100
	int 0x10
	mov si, s13
	call step

	; 14: text again
	mov ax, 0x0003
	int 0x10
	call text_start
.t25:	mov al, cl
	mov ah, cl
	not ah
	and ah, 0x7F
	stosw
	inc cx
	cmp cx, 80 * 25
	jb .t25
	mov si, s14
	call step

	print s_done
	exit_with 0x10

; step: SI = what, printed as "step ..." on COM1; then waits for a key
step:	push si
	print s_step
	pop si
	call puts
	print crlf
	xor ax, ax
	int 0x16
	ret

; text_start: the cursor off; ES:DI = B800:0000 and CX = 0, the first cell of the text screen
text_start:
	mov ah, 0x01
	mov cx, 0x2000
	int 0x10
	mov ax, 0xB800
	mov es, ax
	xor di, di
	xor cx, cx
	ret

; planar: BP = bytes a line, DX = lines. 16 bands of colours 0-15 (write mode 0, set/reset;
; lines past 16 bands in colour 15), then over the right half of each line the pixels of bit
; mask 0Fh in colour (line & 15), the latches keeping the others.
planar:	push dx
	mov ax, 0xA000
	mov es, ax
	mov ax, dx
	shr ax, 4		; lines a band (DX / 16, the rest in colour 15)
	mov [band], ax
	mov dx, GC
	mov ax, 0x0F01
	out dx, ax
	mov ax, 0xFF08
	out dx, ax
	pop dx
	xor di, di
	xor bx, bx		; line
.line:	mov ax, bx
	push dx
	xor dx, dx
	div word [band]
	pop dx
	cmp ax, 15
	jbe .col
	mov ax, 15
.col:	push dx
	mov ah, al
	xor al, al
	mov dx, GC
	out dx, ax		; set/reset = colour
	pop dx
	mov cx, bp
	rep stosb
	inc bx
	cmp bx, dx
	jb .line
	; stripes
	push dx
	mov dx, GC
	mov ax, 0x0F08		; bit mask 0Fh
	out dx, ax
	pop dx
	xor bx, bx
	xor di, di
.sline:	push dx
	mov ah, bl
	and ah, 15
	xor al, al
	mov dx, GC
	out dx, ax
	pop dx
	mov cx, bp
	shr cx, 1
	add di, cx		; the right half
.sbyte:	mov al, [es:di]
	stosb
	loop .sbyte
	inc bx
	cmp bx, dx
	jb .sline
	push dx
	mov dx, GC
	mov ax, 0xFF08
	out dx, ax
	mov ax, 0x0001
	out dx, ax
	mov ax, 0x0000
	out dx, ax
	pop dx
	ret

; cga_fill: both banks of B800h: byte at offset o = (o * 7 + (o >> 7)) & 255
cga_fill:
	mov ax, 0xB800
	mov es, ax
	xor di, di
.b:	mov ax, di
	mov bx, di
	shl ax, 3
	sub ax, di		; o * 7
	shr bx, 7
	add ax, bx
	stosb
	cmp di, 0x4000
	jb .b
	ret

; set_640x480: CL = bits per pixel: a VBE 640x480 mode of that depth (vbe_find_mode) set with
; its linear framebuffer, [lfb] = its address; FS in unreal mode
set_640x480:
	mov ax, 640
	mov bx, 480
	mov ch, VBE_ANY_MODEL
	call vbe_find_mode
	call vbe_set_lfb
	mov eax, [VBE_LFB]
	mov [lfb], eax
	call unreal
	sti
	ret

; fill_640x480: CL = bits per pixel, SI = a pixel routine. Sets the mode (set_640x480), then
; calls SI for each pixel with ECX = x, EDX = y and FS:EDI = the pixel's address; the routine
; stores the pixel and moves EDI past it.
fill_640x480:
	push si
	call set_640x480
	pop si
	xor edx, edx		; y
.row:	xor ecx, ecx		; x
	mov edi, [lfb]
	movzx eax, word [VBE_PITCH]
	imul eax, edx
	add edi, eax
.col:	call si
	inc ecx
	cmp ecx, 640
	jb .col
	inc edx
	cmp edx, 480
	jb .row
	ret

; the pixel routines of steps 10-12
pixel565:
	mov eax, ecx
	shr eax, 4
	shl eax, 11		; (the 16-bit store drops what passes bit 15)
	mov ebx, edx
	shr ebx, 3
	shl ebx, 5
	jmp pixel16
pixel555:
	mov eax, ecx
	shr eax, 4
	and eax, 31
	shl eax, 10
	mov ebx, edx
	shr ebx, 3
	and ebx, 31
	shl ebx, 5
pixel16:			; EAX = red, EBX = green, in place; blue = (x ^ y) & 31
	or eax, ebx
	mov ebx, ecx
	xor ebx, edx
	and ebx, 31
	or eax, ebx
	mov [fs:edi], ax
	add edi, 2
	ret
pixel888:
	mov [fs:edi], cl
	mov [fs:edi + 1], dl
	mov al, cl
	add al, dl
	mov [fs:edi + 2], al
	add edi, 3
	ret

band:	dw 0
lfb:	dd 0

s_step:	db "step ", 0
s01:	db "01 80x50 text", 0
s02:	db "02 mode 0Dh", 0
s03:	db "03 mode 0Eh", 0
s04:	db "04 mode 10h", 0
s05:	db "05 mode 12h with palette changes", 0
s06:	db "06 mode 04h (CGA)", 0
s07:	db "07 mode 06h (CGA)", 0
s08:	db "08 VBE 640x480x8 banked", 0
s09:	db "09 VBE 8-bit DAC", 0
s10:	db "10 VBE 640x480x16", 0
s11:	db "11 VBE 640x480x15", 0
s12:	db "12 VBE 640x480x24", 0
s13:	db "13 VBE 640x480x32 display start", 0
s14:	db "14 text again", 0
s_done:	db "done", 13, 10, 0
