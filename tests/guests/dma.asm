; Bus-master DMA programmed by the guest itself, with interrupts masked and completion polled
; (the engine's Interrupt bit, then the drive's status). The PIIX's register block is found
; through PCI configuration (BAR4 of 00:01.1).
;  1. IDENTIFY DEVICE reports DMA, multiword DMA modes 0-2 and Ultra DMA.
;  2. READ DMA (C8h, LBA28) of 160 sectors from LBA 64 through a PRD table of five entries: odd
;     sizes (510, 1026 across a 4 KiB page boundary, 2 bytes), a 64 KiB entry (count 0) and
;     the rest; the data must be the host's pattern, word W = W * 9E37h + 1234h.
;  3. WRITE DMA (CAh) of the same regions, refilled with W * 7F4Bh ^ A5C3h, to LBA 256; read
;     back by DMA through two other entries (64 KiB + 16 KiB) and compared. The host then checks
;     the image.
;  4. ATAPI: READ (10) of 4 blocks from LBA 5 of the CD (a host-made pattern file, word W of
;     the medium = W * 3C6Fh + 0F0Fh) by DMA (PACKET with Features bit 0) through three entries.
%include "stage1.inc"
%include "ata.inc"
%define FAIL_DETAIL ata_put_status
%include "check.inc"

%define IDENTIFY_BUF 0x9200
%define SECTORS 160

main:
	cli
	call ide_find_bus_master
	call identify
	check 1
	print ok_identify

	mov si, prd_rw		; READ DMA through five entries
	mov al, 0xC8
	mov ebx, 64
	mov cl, SECTORS
	call ata_dma
	check 2
	mov word [pattern], pat_disk
	mov si, prd_rw
	xor cx, cx
	mov byte [op], 0
	call walk_table
	check 3
	print ok_read

	mov word [pattern], pat_write	; WRITE DMA of the same regions, refilled
	mov si, prd_rw
	xor cx, cx
	mov byte [op], 1
	call walk_table
	mov si, prd_rw
	mov al, 0xCA
	mov ebx, 256
	mov cl, SECTORS
	call ata_dma
	check 4
	mov si, prd_verify	; and back through two entries
	mov al, 0xC8
	mov ebx, 256
	mov cl, SECTORS
	call ata_dma
	check 5
	mov si, prd_verify
	xor cx, cx
	mov byte [op], 0
	call walk_table
	check 6
	print ok_write

	call cd_ready		; ATAPI READ (10) by DMA
	check 7
	mov word [atapi_prd], prd_cd
	mov si, cdb_read10
	mov al, 1
	call atapi_packet
	check 8
	mov word [pattern], pat_cd
	mov si, prd_cd
	mov cx, 5 * 1024
	mov byte [op], 0
	call walk_table
	check 9
	print ok_atapi
	exit_with 0x10

; IDENTIFY DEVICE by PIO; CF set unless words 49, 53, 63 and 88 report DMA, multiword DMA
; modes 0-2 and Ultra DMA modes.
identify:
	mov dx, PRI_CMD + 7
	call wait_not_busy
	jc .out
	mov dx, PRI_CMD + 6
	mov al, 0xA0
	out dx, al
	mov dx, PRI_CMD + 7
	mov al, 0xEC
	out dx, al
	mov dx, PRI_CTRL
	in al, dx
	mov dx, PRI_CMD + 7
	call wait_not_busy
	jc .out
	test al, 0x08
	jz .bad
	mov di, IDENTIFY_BUF
	mov cx, 256
	mov dx, PRI_CMD
	rep insw
	test word [IDENTIFY_BUF + 49 * 2], 0x0100	; DMA supported
	jz .bad
	test word [IDENTIFY_BUF + 53 * 2], 0x0004	; word 88 valid
	jz .bad
	mov ax, [IDENTIFY_BUF + 63 * 2]
	and ax, 0x0007
	cmp ax, 0x0007					; multiword DMA 0-2
	jne .bad
	test word [IDENTIFY_BUF + 88 * 2], 0x003F	; some Ultra DMA mode
	jz .bad
	clc
.out:	ret
.bad:	print identify_words
	mov si, identify_checked
.show:	lodsw
	mov bx, ax
	mov ax, [IDENTIFY_BUF + bx]
	call put_hex16
	cmp si, identify_checked_end
	je .shown
	mov al, ' '
	call putc
	jmp .show
.shown:	print crlf
	stc
	ret

; walk_table: SI = PRD table, CX = the word index of its first byte in the pattern, [pattern] =
; the pattern function (CX -> AX), [op] = 0 to compare the regions with it, 1 to fill them.
; CF set at the first difference.
walk_table:
.entry:	mov eax, [si]		; region base
	mov ebx, [si + 4]	; byte count (0: 64 KiB), end of table in bit 31
	movzx edx, bx
	and dx, 0xFFFE
	jnz .count
	mov edx, 0x10000
.count:	shr edx, 1		; words
	mov di, ax
	and di, 0x000F
	shr eax, 4
	mov es, ax
.word:	call [pattern]
	cmp byte [op], 0
	jne .fill
	cmp [es:di], ax
	jne .bad
	jmp .next
.fill:	mov [es:di], ax
.next:	inc cx
	add di, 2
	cmp di, 0x8000
	jb .same
	mov ax, di		; keep DI small: move ES up
	shr ax, 4
	mov bp, es
	add ax, bp
	mov es, ax
	and di, 0x000F
.same:	dec edx
	jnz .word
	test ebx, 0x80000000
	jnz .done
	add si, 8
	jmp .entry
.done:	xor ax, ax
	mov es, ax
	clc
	ret
.bad:	xor ax, ax
	mov es, ax
	stc
	ret

pat_disk:
	mov ax, cx
	imul ax, ax, 0x9E37
	add ax, 0x1234
	ret
pat_write:
	mov ax, cx
	imul ax, ax, 0x7F4B
	xor ax, 0xA5C3
	ret
pat_cd:
	mov ax, cx
	imul ax, ax, 0x3C6F
	add ax, 0x0F0F
	ret

; PRD tables: region base, byte count (0 = 64 KiB) with end of table in bit 31. Dword-aligned,
; inside the loaded image (below 64 KiB, so no table crosses a 64 KiB boundary).
	align 8
prd_rw:	dd 0x10000, 510			; odd sizes
	dd 0x10F00, 1026		; across the page boundary at 0x11000
	dd 0x12000, 2
	dd 0x20000, 0			; 64 KiB
	dd 0x13000, 14846 | 0x80000000	; 81920 bytes in all: 160 sectors
prd_verify:
	dd 0x40000, 0
	dd 0x50000, 16384 | 0x80000000
prd_cd:	dd 0x60000, 3000
	dd 0x61F00, 4000		; across the page boundary at 0x62000
	dd 0x63000, 1192 | 0x80000000	; 8192 bytes: 4 blocks

cdb_read10:	db 0x28, 0, 0, 0, 0, 5, 0, 0, 4, 0, 0, 0
pattern:	dw 0
op:		db 0
identify_checked: dw 49 * 2, 53 * 2, 63 * 2, 88 * 2	; the words .bad shows
identify_checked_end:
ok_identify:	db "IDENTIFY: DMA, multiword DMA 0-2 and Ultra DMA supported", 13, 10, 0
ok_read:	db "READ DMA of 160 sectors through 5 PRD entries (odd sizes, a page crossing, 64 KiB) ok", 13, 10, 0
ok_write:	db "WRITE DMA of 160 sectors ok, read back by DMA through 2 entries", 13, 10, 0
ok_atapi:	db "ATAPI READ (10) of 4 blocks by DMA through 3 PRD entries ok", 13, 10, 0
identify_words:	db "IDENTIFY words 49 53 63 88: ", 0
failed:		db "dma FAILED at step ", 0
	times 4608 - ($ - $$) db 0
