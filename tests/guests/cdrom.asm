; ATAPI commands as a driver sends them, by PIO, to the CD drive on the secondary master; the
; disc is a host-made file of 64 blocks of 2048 bytes (word W of the medium = W * 3C6Fh + 0F0Fh).
; INQUIRY, READ CAPACITY, READ (10) with an odd byte count limit (the drive must use even DRQ
; blocks within it), READ (12) past the end and an unknown opcode (CHECK CONDITION and their
; sense data), READ TOC format 0 and MODE SENSE (10) of the capabilities page.
%include "stage1.inc"
%include "ata.inc"
%include "check.inc"

%define BUF 0x9000		; responses
%define DATA_SEG 0x1000		; READ (10) data

%macro packet 1			; PIO command %1, response to BUF
	mov si, %1
	mov di, BUF
	xor al, al
	call atapi_packet
%endmacro

main:
	mov dx, SEC_CTRL	; nIEN: polled
	mov al, 0x0A
	out dx, al
	call cd_ready
	check 1

	packet cdb_inquiry
	check 2
	print inquiry
	mov al, [BUF]
	and al, 0x1F
	call put_hex8
	print rmb
	mov al, [BUF + 1]
	shr al, 7
	call put_hex8
	print crlf

	packet cdb_capacity
	check 3
	print capacity
	mov eax, [BUF]
	bswap eax
	call put_hex32
	print comma
	mov eax, [BUF + 4]
	bswap eax
	call put_hex32
	print block_bytes

	mov word [atapi_limit], 0x01FF	; READ (10) of 2 blocks, odd byte count limit
	mov word [atapi_max], 4096
	mov ax, DATA_SEG
	mov es, ax
	mov si, cdb_read10
	xor di, di
	xor al, al
	call atapi_packet
	mov word [atapi_limit], 2048
	mov word [atapi_max], 2048
	check 4
	cmp word [atapi_len], 4096
	jne .drq_bad
	cmp byte [atapi_odd], 0
	jne .drq_bad
	cmp word [atapi_biggest], 0x01FE
	ja .drq_bad
	cmp word [atapi_blocks], 9	; 4096 bytes in blocks of at most 510
	jb .drq_bad
	xor di, di		; the data: words 3 * 1024 on of the medium
	mov cx, 3 * 1024
	mov dx, 2048
.word:	mov ax, cx
	imul ax, ax, 0x3C6F
	add ax, 0x0F0F
	cmp [es:di], ax
	jne .drq_bad
	add di, 2
	inc cx
	dec dx
	jnz .word
	xor ax, ax
	mov es, ax
	print read10
	jmp .past_end
.drq_bad:
	xor ax, ax
	mov es, ax
	print drq_words
	mov ax, [atapi_len]
	call put_hex16
	mov al, ' '
	call putc
	mov ax, [atapi_blocks]
	call put_hex16
	mov al, ' '
	call putc
	mov ax, [atapi_biggest]
	call put_hex16
	print crlf
	stc
	check 5

.past_end:
	packet cdb_read12	; blocks 60-67 of 64: CHECK CONDITION
	cmc
	check 6
	cmp byte [atapi_fault], 0
	stc
	jne fail
	print read12
	call print_sense
	check 7

	packet cdb_unknown
	cmc
	check 8
	print unknown
	call print_sense
	check 9

	packet cdb_toc
	check 10
	print toc
	mov al, [BUF + 2]	; first and last track
	call put_hex8
	mov al, '-'
	call putc
	mov al, [BUF + 3]
	call put_hex8
	print track1
	mov eax, [BUF + 4 + 4]	; track 1's start
	bswap eax
	call put_hex32
	print leadout
	mov al, [BUF + 12 + 2]	; the lead-out descriptor's track number (AAh)
	call put_hex8
	print at_lba
	mov eax, [BUF + 12 + 4]
	bswap eax
	call put_hex32
	print crlf

	packet cdb_mode_sense
	check 11
	print mode_sense
	mov al, [BUF + 8]	; after the 8-byte header: page code, length
	and al, 0x3F
	call put_hex8
	print page_len
	mov al, [BUF + 9]
	call put_hex8
	print crlf
	exit_with 0x10

; print_sense: REQUEST SENSE, printed as key/ASC/ASCQ. CF on failure.
print_sense:
	packet cdb_sense
	jc .out
	mov al, [BUF + 2]
	and al, 0x0F
	mov ah, [BUF + 12]
	mov dl, [BUF + 13]
	call atapi_put_sense
	print crlf
	clc
.out:	ret

cdb_inquiry:	db 0x12, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0
cdb_capacity:	db 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
cdb_read10:	db 0x28, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0, 0
cdb_read12:	db 0xA8, 0, 0, 0, 0, 60, 0, 0, 0, 8, 0, 0
cdb_unknown:	db 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
cdb_toc:	db 0x43, 0, 0, 0, 0, 0, 1, 0, 20, 0, 0, 0	; format 0 from track 1, LBA
cdb_mode_sense:	db 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 64, 0, 0, 0
inquiry:	db "INQUIRY: peripheral type ", 0
rmb:		db ", removable ", 0
capacity:	db "READ CAPACITY: last LBA ", 0
comma:		db ", ", 0
block_bytes:	db "-byte blocks (hex)", 13, 10, 0
read10:		db "READ (10) of 2 blocks by PIO, byte count limit 1FFh: even DRQ blocks of at most 1FEh bytes, data ok", 13, 10, 0
drq_words:	db "READ (10) bytes, DRQ blocks, largest: ", 0
read12:		db "READ (12) past the last block: sense ", 0
unknown:	db "opcode FFh: sense ", 0
toc:		db "READ TOC: tracks ", 0
track1:		db ", track 1 at LBA ", 0
leadout:	db ", lead-out ", 0
at_lba:		db " at LBA ", 0
mode_sense:	db "MODE SENSE (10): page ", 0
page_len:	db ", page length ", 0
failed:		db "cdrom FAILED at step ", 0
	times 4608 - ($ - $$) db 0
