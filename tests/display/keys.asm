; Display test guest: reports every key the BIOS gets, for vnc.py.
; Text mode 3 with the cursor hidden; "keys ready" on the screen and COM1, then for each key:
;   "key PPPP RRRR" on COM1 (and the screen), PPPP = INT 16h AH=11h (the extended peek: gray
;   keys keep their E0h) and RRRR = INT 16h AH=00h (the classic read that removes the key).
; Tab (0F09h) switches to mode 12h and fills the screen with a pattern: the console's size
; changes (720x400 -> 640x480); "mode 12h" on COM1. Keys are still reported on COM1 after.
; Waits with HLT between keys (IRQ 1 and the timer wake it).
%include "stage1.inc"

main:
	mov ax, 0x0003
	int 0x10
	mov ah, 0x01		; cursor off: the picture does not blink
	mov cx, 0x2000
	int 0x10
	mov byte [graphics], 0
	mov si, ready
	call say

.wait:	sti
	mov ah, 0x11		; a key there?
	int 0x16
	jnz .key
	hlt
	jmp .wait
.key:	mov [peek], ax
	mov ah, 0x00
	int 0x16
	mov [got], ax
	mov si, keymsg
	call say
	mov ax, [peek]
	call hex16
	mov al, ' '
	call out
	mov ax, [got]
	call hex16
	mov si, crlf
	call say
	cmp word [got], 0x0F09
	jne .wait
	cmp byte [graphics], 0
	jne .wait
	call mode12
	jmp .wait

; mode12: mode 12h, 16 bands of 30 lines in colours 0-15, with a white frame
mode12:	mov ax, 0x0012
	int 0x10
	mov byte [graphics], 1
	push es
	mov ax, 0xA000
	mov es, ax
	mov dx, 0x3CE
	mov ax, 0x0F01		; set/reset on all planes
	out dx, ax
	xor di, di
	xor bx, bx		; colour
.band:	mov dx, 0x3CE
	mov al, 0x00
	mov ah, bl
	out dx, ax
	mov cx, 30 * 80
	rep stosb
	inc bx
	cmp bx, 16
	jb .band
	mov dx, 0x3CE
	mov ax, 0x0F00		; white
	out dx, ax
	xor di, di
	mov cx, 80
	rep stosb		; top line
	mov di, 479 * 80
	mov cx, 80
	rep stosb		; bottom line
	mov ax, 0x0001		; set/reset off
	out dx, ax
	pop es
	mov si, mode12msg
	call print_com
	ret

; say: DS:SI to the screen (teletype, in text mode) and then to COM1, so that a line complete
; on COM1 is on the screen too
say:	push si
	cmp byte [graphics], 0
	jne .com
.next:	lodsb
	test al, al
	jz .com
	mov ah, 0x0E
	xor bx, bx
	int 0x10
	jmp .next
.com:	pop si
	call print_com
	ret

print_com:
	call puts
	ret

; out: AL to COM1 and the screen
out:	call putc
	cmp byte [graphics], 0
	jne .done
	mov ah, 0x0E
	xor bx, bx
	int 0x10
.done:	ret

; hex16: AX as four hex digits through out
hex16:	push ax
	mov al, ah
	call hex8
	pop ax
hex8:	push ax
	shr al, 4
	call nib
	pop ax
nib:	and al, 0x0F
	add al, '0'
	cmp al, '9'
	jbe .d
	add al, 'A' - '9' - 1
.d:	push ax
	call out
	pop ax
	ret

graphics: db 0
peek:	dw 0
got:	dw 0
ready:	db "keys ready", 13, 10, 0
keymsg:	db "key ", 0
mode12msg: db "mode 12h", 13, 10, 0
