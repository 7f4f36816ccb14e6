; The installer of the install test, booted from the CD (El Torito, no emulation) of a VM whose
; disk is blank. It finds PAYLOAD.BIN (installed.asm, a bootable program of 9 sectors) through
; the ISO 9660 directory, reads it from the CD with INT 13h extended reads, writes it to the
; first hard disk (drive 80h) with INT 13h extended writes, reads it back, and resets the
; machine through 0xCF9. Boot order is disk first, so the installed program runs next. A boot
; counter in battery-backed CMOS (byte 0x4B) catches the installer running twice — what
; happens when the disk does not boot after the copy.
%include "cdboot.inc"
%include "check.inc"

%define COUNTER 0x4B
%define PAYLOAD_SEG 0x1000
%define VERIFY_SEG 0x2000
%define DISK 0x80

main:
	print booted
	mov al, [boot_drive]
	call put_hex8
	print crlf
	mov al, COUNTER
	call cmos_read
	test al, al
	jz .first
	print twice
	exit_with 0x01
.first:	mov ax, 0x0100 | COUNTER
	call cmos_write

	mov si, name
	mov cx, name_len
	call iso_find
	check 1
	cmp ecx, 9 * 512	; installed.asm is 9 sectors
	stc
	jne fail
	mov [cd_read + 8], eax
	mov si, cd_read		; 3 CD sectors (6 KiB) hold its 4.5 KiB
	mov ah, 0x42
	mov dl, [boot_drive]
	int 0x13
	check 2

	mov ah, 0x41		; extensions on the hard disk
	mov bx, 0x55AA
	mov dl, DISK
	int 0x13
	check 3
	mov si, disk_write	; 9 sectors to LBA 0 of drive 80h
	mov ax, 0x4300
	mov dl, DISK
	int 0x13
	check 4
	mov si, disk_read	; and back
	mov ah, 0x42
	mov dl, DISK
	int 0x13
	check 5
	push ds
	mov ax, VERIFY_SEG
	mov es, ax
	mov ax, PAYLOAD_SEG
	mov ds, ax
	xor si, si
	xor di, di
	mov cx, 9 * 512
	repe cmpsb
	pop ds
	stc
	jne fail
	xor ax, ax
	mov es, ax
	print copied

	print resetting
	mov dx, 0xCF9
	mov al, 0x02
	out dx, al
	mov al, 0x06
	out dx, al
	print not_reset
	exit_with 0x01

%include "iso9660.inc"

name:	db "PAYLOAD.BIN;1"
name_len equ $ - name
cd_read:    db 0x10, 0
	    dw 3, 0, PAYLOAD_SEG
	    dq 0
disk_write: db 0x10, 0
	    dw 9, 0, PAYLOAD_SEG
	    dq 0
disk_read:  db 0x10, 0
	    dw 9, 0, VERIFY_SEG
	    dq 0
booted:	db "installer booted from drive ", 0
twice:	db "installer booted a second time: the installed disk did not boot", 13, 10, 0
copied:	db "installer wrote PAYLOAD.BIN to drive 80 and read it back", 13, 10, 0
resetting: db "installer resets through 0xCF9", 13, 10, 0
not_reset: db "the machine did not reset", 13, 10, 0
failed:	db "installer FAILED at step ", 0
	cdboot_end
