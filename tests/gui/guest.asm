; The guest of the desktop-app test (gui.py): an El Torito boot image that SeaBIOS boots from
; the CD of a VM made by the new-VM wizard. It counts its boots in battery-backed CMOS (byte
; 0x49 survives a reset, as in tests/guests/reset.asm), and shows on the text screen
;   row 1: "PCVM GUI GUEST"
;   row 3: "boot NN"                (hex, also on COM1 as "boot NN")
;   row 5: "ticks NNNN" and a bar that grows by one cell a second, so the screen changes
; halting between timer interrupts. Ctrl+Alt+Del from the app's Send Key menu goes through
; SeaBIOS's keyboard handler, which resets the machine: the next boot shows "boot 02".
%include "cdboot.inc"

%define COUNTER 0x49
%define TICKS 0x046C		; BIOS data area: IRQ 0 ticks since midnight (18.2 Hz)
%define ATTR 0x1F		; white on blue

main:
	mov ax, 0x0003		; 80x25 text, cleared
	int 0x10
	mov ah, 0x01		; no cursor: it blinks, and the test compares screens
	mov cx, 0x2000
	int 0x10
	mov al, COUNTER
	call cmos_read
	inc al
	mov [boot], al
	mov ah, al
	mov al, COUNTER
	call cmos_write
	print s_boot
	mov al, [boot]
	call put_hex8
	print crlf

	push 0xB800
	pop es
	mov di, 1 * 160 + 4	; row 1, column 2
	mov si, s_title
	call show
	mov di, 3 * 160 + 4
	mov si, s_boot
	call show
	mov al, [boot]
	call show_hex8

	sti
	mov ebx, [TICKS]
.tick:	hlt			; sleep until an interrupt
	mov eax, [TICKS]
	sub eax, ebx
	mov edx, eax		; ticks since the boot
	mov di, 5 * 160 + 4
	mov si, s_ticks
	call show
	mov ax, dx
	xchg al, ah
	call show_hex8
	xchg al, ah
	call show_hex8
	mov ax, dx		; the bar: one cell per 18 ticks, up to 60 cells
	xor dx, dx
	mov cx, 18
	div cx
	cmp ax, 60
	jbe .bar
	mov ax, 60
.bar:	mov cx, ax
	mov di, 7 * 160 + 4
	mov ax, (ATTR << 8) | 0xDB	; a full block
	rep stosw
	jmp .tick

; show: the zero-terminated string at DS:SI to ES:DI on the screen
show:
	push ax
	mov ah, ATTR
.next:	lodsb
	test al, al
	jz .done
	stosw
	jmp .next
.done:	pop ax
	ret

; show_hex8: AL as two hex digits at ES:DI
show_hex8:
	push ax
	push ax
	shr al, 4
	call show_nibble
	pop ax
	call show_nibble
	pop ax
	ret

show_nibble:
	and al, 0x0F
	add al, '0'
	cmp al, '9'
	jbe .digit
	add al, 'A' - '9' - 1
.digit:	mov ah, ATTR
	stosw
	ret

s_title: db "PCVM GUI GUEST", 0
s_boot:  db "boot ", 0
s_ticks: db "ticks ", 0
boot:    db 0

	cdboot_end
