; A hostile guest: absurd IDE commands, fw_cfg DMA descriptors pointing outside RAM, and byte,
; word and dword garbage written to (and read from) every I/O port but the few that end or
; reset the machine by design. pcvm must stay up and keep working: the guest reports on COM1
; and exits through the test-exit port. Runs under pcvm only (QEMU's behaviour differs here).
%include "stage1.inc"

%define COUNTER 0x4A
%define DESC 0x6000

main:
	cli
	mov al, COUNTER		; a second boot means the garbage reset the machine
	call cmos_read
	test al, al
	jnz rebooted
	mov ax, 0x0100 | COUNTER
	call cmos_write

	mov dx, 0x1F6		; READ SECTORS EXT at LBA 0xFFFFFFFFFFFF, 65536 sectors
	mov al, 0x40
	out dx, al
	mov dx, 0x1F2
	xor al, al
	out dx, al
	out dx, al
	mov al, 0xFF
	mov cx, 3
.lba:	inc dx
	out dx, al
	out dx, al
	loop .lba
	mov dx, 0x1F7
	mov al, 0x24
	out dx, al
.bsy:	in al, dx
	test al, 0x80
	jnz .bsy
	test al, 0x01		; ERR
	jz ide_accepted
	print ide_ok

	mov dx, 0x514		; fw_cfg DMA: descriptor at 0x10_FFFFFFF0, far outside RAM
	mov eax, 0x10000000	; big-endian 0x00000010
	out dx, eax
	mov dx, 0x518
	mov eax, 0xF0FFFFFF	; big-endian 0xFFFFFFF0: starts the transfer
	out dx, eax
	mov dword [DESC], 0x02000000	; read, big-endian
	mov dword [DESC + 4], 0x00100000	; 4 KiB
	mov dword [DESC + 8], 0xFFFFFFFF	; to 0xFFFFFFFFFFFF0000
	mov dword [DESC + 12], 0x0000FFFF
	mov dx, 0x514
	xor eax, eax
	out dx, eax
	mov dx, 0x518
	mov eax, (DESC >> 8) << 16	; big-endian DESC (0x6000 -> 00 00 60 00)
	out dx, eax
	test byte [DESC + 3], 0x01	; the error bit, in the big-endian control word
	jz dma_accepted
	print dma_ok

	xor dx, dx		; every port, every width
.port:	call excluded
	jc .skip
	mov al, dl
	xor al, dh
	xor al, 0x5A
	out dx, al
	in al, dx
	mov ah, al
	out dx, ax
	in ax, dx
	mov eax, 0xDEADBEEF
	xor ax, dx
	out dx, eax
	in eax, dx
.skip:	inc dx
	jnz .port
	print survived
	mov ax, COUNTER
	call cmos_write
	exit_with 0x10

excluded:			; CF set if DX..DX+3 touches a port that must keep working
	push si
	mov si, keep
.range:	cmp word [si], 0xFFFF
	je .no
	mov ax, dx
	add ax, 3
	jc .yes			; wraps past 0xFFFF: skip the last three ports
	cmp ax, [si]
	jb .next
	cmp dx, [si + 2]
	ja .next
.yes:	pop si
	stc
	ret
.next:	add si, 4
	jmp .range
.no:	pop si
	clc
	ret

ide_accepted:
	print ide_bad
	exit_with 0x02
dma_accepted:
	print dma_bad
	exit_with 0x03
rebooted:
	mov ax, COUNTER
	call cmos_write
	print reset_seen
	exit_with 0x04

; inclusive port ranges left alone: the keyboard controller (reset line), CMOS (our counter),
; port 0x92 (reset), test-exit, COM1 (our output), the firmware log, fw_cfg DMA, PCI config
; (could move the PM block), the PM block itself (S5 power-off)
keep:	dw 0x0060, 0x0064, 0x0070, 0x0071, 0x0092, 0x0092, 0x00F4, 0x00F7
	dw 0x03F8, 0x03FF, 0x0402, 0x0402, 0x0514, 0x051B, 0x0CF8, 0x0CFF
	dw 0xB000, 0xB03F, 0xFFFF
ide_ok:    db "ide refused an out-of-range LBA48 read", 13, 10, 0
ide_bad:   db "ide accepted an out-of-range read", 13, 10, 0
dma_ok:    db "fw_cfg refused DMA outside RAM", 13, 10, 0
dma_bad:   db "fw_cfg DMA outside RAM did not report an error", 13, 10, 0
survived:  db "survived garbage on every port", 13, 10, 0
reset_seen: db "the machine was reset by the garbage", 13, 10, 0
	times 4608 - ($ - $$) db 0
