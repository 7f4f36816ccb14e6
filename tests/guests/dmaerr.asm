; Bus-master DMA gone wrong, from the guest's side (pcvm only: QEMU drops a transfer to
; unassigned memory without a word). pcvm must answer with status bits the guest can see, never
; crash or touch memory outside guest RAM, and the channel must work again afterwards:
;  1. a PRD entry pointing outside RAM (1 GiB, the VM has 256 MiB): the engine's Error bit,
;     Interrupt set, Active clear; the drive ends the command with ERR;
;  2. the PRD table itself outside RAM: the same;
;  3. a table shorter than the transfer: Interrupt and Active both clear (SFF-8038i: the PRD
;     table was exhausted before the drive finished); the driver resets the channel (SRST);
;  4. then a good READ DMA through the same channel.
%include "stage1.inc"
%include "ata.inc"
%define FAIL_DETAIL ata_put_status
%include "check.inc"

main:
	cli
	call ide_find_bus_master

	mov si, prd_outside	; 1: the region outside RAM
	call read_8
	call engine_error
	check 1
	print ok_region

	mov si, 0		; 2: the table outside RAM (a PRD address of 40000000h)
	mov byte [table_far], 1
	call read_8
	mov byte [table_far], 0
	call engine_error
	check 2
	print ok_table

	mov si, prd_short	; 3: 1 KiB of table for 4 KiB of data
	call read_8_no_wait
	call deadline_start
	mov dx, [bm]
	add dx, 2
.active:
	in al, dx
	test al, 0x01
	jz .stopped
	call deadline_passed
	jnc .active
	check 3
.stopped:
	and al, 0x07
	mov [bm_status], al
	cmp al, 0x00		; neither Interrupt nor Active nor Error
	stc
	jne fail
	mov dx, [bm]		; stop the engine, reset the channel
	xor al, al
	out dx, al
	call srst
	check 4
	print ok_short

	mov si, prd_good	; 4: a good transfer through the same channel
	call read_8
	check 5
	mov ax, 0x1000
	mov es, ax
	cmp dword [es:4092], 0x5A5AA5A5	; the host's marker: the last dword of LBA 71
	push 0
	pop es
	stc
	jne fail
	print ok_good
	exit_with 0x10

; read_8: READ DMA of LBA 64-71 through the table at SI (or at 40000000h with [table_far])
read_8:
	call read_8_no_wait
	mov bx, [bm]
	mov di, PRI_CMD
	jmp bm_finish

read_8_no_wait:
	mov dx, PRI_CTRL
	mov al, 0x08
	out dx, al
	mov dx, PRI_CMD + 7
	call wait_not_busy
	mov dx, PRI_CMD + 6
	mov al, 0xE0
	out dx, al
	mov dx, PRI_CMD + 2
	mov al, 8
	out dx, al
	inc dx
	mov al, 64
	out dx, al
	inc dx
	xor al, al
	out dx, al
	inc dx
	out dx, al
	mov bx, [bm]
	mov al, 0x08
	call bm_prepare
	cmp byte [table_far], 0
	je .go
	mov dx, bx
	add dx, 4
	mov eax, 0x40000000
	out dx, eax
.go:	mov dx, PRI_CMD + 7
	mov al, 0xC8
	out dx, al
	jmp bm_start

; engine_error: CF clear if bm_finish saw Error + Interrupt, Active clear, and the drive ERR.
engine_error:
	mov al, [bm_status]
	and al, 0x07
	cmp al, 0x06
	jne .bad
	test byte [drive_status], 0x01
	jz .bad
	clc
	ret
.bad:	stc
	ret

; srst: software reset of the primary channel (device control bit 2), then wait for not BSY.
srst:
	mov dx, PRI_CTRL
	mov al, 0x0C
	out dx, al
	in al, dx		; hold SRST a moment
	in al, dx
	in al, dx
	in al, dx
	mov al, 0x08
	out dx, al
	mov dx, PRI_CMD + 7
	jmp wait_not_busy

	align 8
prd_outside:	dd 0x40000000, 4096 | 0x80000000
prd_short:	dd 0x10000, 1024 | 0x80000000
prd_good:	dd 0x10000, 4096 | 0x80000000
table_far:	db 0
ok_region:	db "PRD region outside RAM: bus-master Error and Interrupt, drive ERR", 13, 10, 0
ok_table:	db "PRD table outside RAM: bus-master Error and Interrupt, drive ERR", 13, 10, 0
ok_short:	db "PRD table shorter than the transfer: Interrupt and Active clear; channel reset", 13, 10, 0
ok_good:	db "READ DMA through the same channel afterwards ok", 13, 10, 0
failed:		db "dmaerr FAILED at step ", 0
	times 4608 - ($ - $$) db 0
