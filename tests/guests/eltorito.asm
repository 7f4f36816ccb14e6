; An El Torito no-emulation boot image on an ISO made by xorriso: SeaBIOS boots it from the CD
; (the VM's disk is blank and falls through). It prints the drive it booted from, checks the
; INT 13h extensions and drive parameters of that drive (2048-byte sectors), finds PATTERN.BIN
; through the ISO 9660 directory, and reads it with INT 13h extended reads: four sectors at
; once, then its third sector alone. The host writes PATTERN.BIN's word W as
; (W * 0x9E37 + 0x1234) & 0xFFFF and checks the LBA printed here against xorriso's.
%include "cdboot.inc"
%include "check.inc"

%define BUF_SEG 0x1000		; the four sectors
%define ONE_SEG 0x2000		; the third sector, read alone

main:
	print booted
	mov al, [boot_drive]
	call put_hex8
	print crlf

	mov ah, 0x41		; INT 13h extensions on the CD drive
	mov bx, 0x55AA
	mov dl, [boot_drive]
	int 0x13
	check 1
	cmp bx, 0xAA55
	stc
	jne fail
	mov ah, 0x48		; drive parameters: bytes per sector
	mov dl, [boot_drive]
	mov si, params
	int 0x13
	check 2
	print ext_on
	mov al, [boot_drive]
	call put_hex8
	print comma
	mov ax, [params + 24]
	call put_hex16
	print bytes_per_sector

	mov si, name		; PATTERN.BIN through the directory
	mov cx, name_len
	call iso_find
	check 3
	mov [lba], eax
	mov [size], ecx
	print found
	mov eax, [lba]
	call put_hex32
	print comma
	mov eax, [size]
	call put_hex32
	print bytes

	mov eax, [lba]		; its four sectors at once
	mov [dap4 + 8], eax
	mov si, dap4
	mov ah, 0x42
	mov dl, [boot_drive]
	int 0x13
	check 4
	mov ax, BUF_SEG
	mov es, ax
	xor di, di
	xor cx, cx		; word index in the file
	mov dx, 4096
	call check_pattern
	check 5
	print read4_ok

	mov eax, [lba]		; the third sector alone, at its own LBA
	add eax, 2
	mov [dap1 + 8], eax
	mov si, dap1
	mov ah, 0x42
	mov dl, [boot_drive]
	int 0x13
	check 6
	mov ax, ONE_SEG
	mov es, ax
	xor di, di
	mov cx, 2048		; word 2048 of the file starts its third sector
	mov dx, 1024
	call check_pattern
	check 7
	print read1_ok
	exit_with 0x10

; ES:DI = data, CX = word index of its first word in the file, DX = words. CF set if different.
check_pattern:
.next:	mov ax, cx
	imul ax, ax, 0x9E37
	add ax, 0x1234
	cmp [es:di], ax
	jne .bad
	add di, 2
	inc cx
	dec dx
	jnz .next
	clc
	ret
.bad:	stc
	ret

%include "iso9660.inc"

name:	db "PATTERN.BIN;1"
name_len equ $ - name
dap4:	db 0x10, 0
	dw 4, 0, BUF_SEG
	dq 0
dap1:	db 0x10, 0
	dw 1, 0, ONE_SEG
	dq 0
lba:	dd 0
size:	dd 0
params:	dw 0x1A
	times 0x18 db 0
booted:	db "El Torito boot from drive ", 0
ext_on:	db "INT 13h extensions on drive ", 0
comma:	db ", ", 0
bytes_per_sector: db "-byte sectors (hex)", 13, 10, 0
found:	db "PATTERN.BIN at LBA ", 0
bytes:	db " bytes (hex)", 13, 10, 0
read4_ok: db "extended read of 4 CD sectors ok", 13, 10, 0
read1_ok: db "extended read of the third sector alone ok", 13, 10, 0
failed:	db "eltorito FAILED at step ", 0
	cdboot_end
