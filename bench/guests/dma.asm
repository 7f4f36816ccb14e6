; bench/disk.sh's guest: streams the disk through PIIX bus-master DMA and times itself.
;
; Real mode, interrupts on only for the BIOS timer tick (IRQ 0); IRQ 14 is masked at the PIC,
; so completion is polled in the bus-master status register (Interrupt bit, set on the
; drive's INTRQ edge; nIEN stays 0 so the drive raises it). One 64 KiB buffer at 1000:0000
; (physical 0x10000), one PRD entry (64 KiB, end of table) at 0x9000.
;
;   read pass:  READ DMA (C8h) of 128 sectors, CHUNKS times, from READ_LBA on; after each
;               command the buffer's first and last dword must hold the chunk's tag
;               'R' << 24 | index, which the host wrote there (a stale or short transfer fails)
;   write pass: WRITE DMA (CAh) of 128 sectors, CHUNKS times, from WRITE_LBA on; before each
;               command the buffer's first and last dword get 'W' << 24 | index (the rest is
;               the last chunk read); the host checks the image byte for byte after the run
;
; Time: PIT channel 0 reprogrammed to mode 2 (rate generator, divisor 65536: the BIOS's
; 18.2 Hz tick, unchanged) so its counter falls steadily by one per 1/1193182 s; a time stamp
; is (BIOS tick count 0040:006C low word) << 16 | (65536 - counter) mod 65536, read with
; interrupts off, plus one tick when IRQ 0 is pending in the PIC and the counter has just
; wrapped. The guest prints the stamps before and after each pass in hex:
;   "read  chunks=XXXX t0=XXXXXXXX t1=XXXXXXXX"
;   "write chunks=XXXX t0=XXXXXXXX t1=XXXXXXXX"
;   "flush chunks=XXXX t0=XXXXXXXX t1=XXXXXXXX"   (FLUSH CACHE after the write pass)
; then "dma-bench done" and exits with 0x10 (VMM exit code 33). On an error it prints
; "dma-bench FAILED ..." with the ATA and bus-master status and exits with 0x01 (code 3).
;
; Build: nasm -f bin -i tests/guests/ -DMIB=64 bench/guests/dma.asm -o dma.img
; Disk layout: this program in sectors 0-8; the read region (MIB MiB) at LBA 2048; the write
; region (MIB MiB) right after it.
%include "stage1.inc"

%ifndef MIB
%define MIB 64
%endif
%define CHUNKS (MIB * 16)		; 64 KiB per command
%define READ_LBA 2048
%define WRITE_LBA (2048 + MIB * 2048)
%define BUF_SEG 0x1000
%define BUF_PHYS 0x10000
%define PRD_ADDR 0x9000
%define ATA_DATA 0x1F0
%define ATA_STATUS 0x1F7
%define ATA_CTRL 0x3F6

main:
	print banner
	; PIIX IDE is 00:01.1; check its IDs, then BAR4 (bus-master registers, I/O space)
	mov eax, 0x80000900
	call pci_read
	cmp eax, 0x70108086
	mov byte [step], 1
	jne fail
	mov eax, 0x80000920
	call pci_read
	test al, 1
	mov byte [step], 2
	jz fail
	and ax, 0xFFFC
	jz fail
	mov [bmbase], ax
	mov eax, 0x80000904	; PCI command: I/O space and bus master on
	call pci_read
	or al, 0x05
	mov ebx, eax
	mov eax, 0x80000904
	mov dx, 0xCF8
	out dx, eax
	mov eax, ebx
	mov dx, 0xCFC
	out dx, ax

	mov dword [PRD_ADDR], BUF_PHYS	; one region: 64 KiB (count 0), end of table
	mov dword [PRD_ADDR + 4], 0x80000000
	mov dx, [bmbase]
	add dx, 4
	mov eax, PRD_ADDR
	out dx, eax

	cli
	in al, 0xA1		; mask IRQ 14 at the slave PIC: completion is polled
	or al, 0x40
	out 0xA1, al
	mov dx, ATA_CTRL	; nIEN = 0: the drive raises INTRQ, which sets the BM Interrupt bit
	xor al, al
	out dx, al
	mov al, 0x34		; PIT channel 0: lobyte/hibyte, mode 2, binary; divisor 65536
	out 0x43, al
	xor al, al
	out 0x40, al
	out 0x40, al
	sti

	; ---- read pass ----
	mov byte [step], 3
	mov dword [lba], READ_LBA
	mov word [index], 0
	call now
	mov [t0], eax
.read:	mov al, 0xC8
	mov bl, 0x08		; bus master writes memory
	call dma_cmd
	jc fail
	mov eax, 'R' << 24
	mov ax, [index]
	push es
	mov bx, BUF_SEG
	mov es, bx
	cmp eax, [es:0]
	jne .rbad
	cmp eax, [es:0xFFFC]
.rbad:	pop es
	mov byte [step], 4
	jne fail
	mov byte [step], 3
	add dword [lba], 128
	inc word [index]
	cmp word [index], CHUNKS
	jb .read
	call now
	mov [t1], eax
	print read_msg
	call report

	; ---- write pass ----
	mov byte [step], 5
	mov dword [lba], WRITE_LBA
	mov word [index], 0
	call now
	mov [t0], eax
.write:	mov eax, 'W' << 24
	mov ax, [index]
	push es
	mov bx, BUF_SEG
	mov es, bx
	mov [es:0], eax
	mov [es:0xFFFC], eax
	pop es
	mov al, 0xCA
	mov bl, 0x00		; bus master reads memory
	call dma_cmd
	jc fail
	add dword [lba], 128
	inc word [index]
	cmp word [index], CHUNKS
	jb .write
	call now
	mov [t1], eax
	print write_msg
	call report

	; ---- FLUSH CACHE (E7h): the writes reach the image file (QEMU's qcow2 keeps metadata
	; in memory until a flush, and the test-exit port ends QEMU without one) ----
	mov byte [step], 6
	call now
	mov [t0], eax
	mov dx, 0x1F6
	mov al, 0xE0
	out dx, al
	mov dx, ATA_STATUS
	mov al, 0xE7
	out dx, al
.flush:	in al, dx
	test al, 0x80
	jnz .flush
	mov [ata_st], al
	test al, 0x89
	jnz fail
	call now
	mov [t1], eax
	print flush_msg
	call report
	print done_msg
	exit_with 0x10

; report: " chunks=XXXX t0=XXXXXXXX t1=XXXXXXXX" and a line end
report:
	print chunks_msg
	mov ax, CHUNKS
	call put_hex16
	print t0_msg
	mov eax, [t0]
	call put_hex32
	print t1_msg
	mov eax, [t1]
	call put_hex32
	print crlf
	ret

; pci_read: EAX = configuration address -> EAX = dword
pci_read:
	mov dx, 0xCF8
	out dx, eax
	mov dx, 0xCFC
	in eax, dx
	ret

; dma_cmd: AL = ATA command, BL = bus-master direction bit (08h: to memory); [lba] = start,
; 128 sectors. CF set on an error ([ata_st], [bm_st] hold the statuses).
dma_cmd:
	mov [cmd], al
	mov dx, [bmbase]
	mov al, bl
	out dx, al		; stopped, direction set
	add dx, 2
	mov al, 0x06		; clear Error and Interrupt
	out dx, al
	mov dx, ATA_STATUS
.busy:	in al, dx
	test al, 0x80
	jnz .busy
	mov eax, [lba]
	mov dx, 0x1F6
	push eax
	shr eax, 24
	and al, 0x0F
	or al, 0xE0		; LBA, master
	out dx, al
	pop eax
	mov dx, 0x1F3
	out dx, al		; LBA 7:0
	inc dx
	shr eax, 8
	out dx, al		; LBA 15:8
	inc dx
	shr eax, 8
	out dx, al		; LBA 23:16
	mov dx, 0x1F2
	mov al, 128
	out dx, al
	mov dx, ATA_STATUS
	mov al, [cmd]
	out dx, al
	mov dx, [bmbase]
	mov al, bl
	or al, 0x01		; start
	out dx, al
	add dx, 2
.poll:	in al, dx
	test al, 0x06		; Interrupt or Error
	jz .poll
	mov [bm_st], al
	mov dx, [bmbase]
	mov al, bl
	out dx, al		; stop
	mov dx, ATA_STATUS
	in al, dx		; also clears INTRQ
	mov [ata_st], al
	test al, 0x89		; BSY, DRQ, ERR
	jnz .err
	test byte [bm_st], 0x02
	jnz .err
	clc
	ret
.err:	stc
	ret

; now: EAX = time stamp (see the header)
now:
	pushf
	cli
	xor al, al		; latch channel 0
	out 0x43, al
	in al, 0x40
	mov cl, al
	in al, 0x40
	mov ch, al
	neg cx			; ticks since the last reload
	mov bx, [0x46C]
	mov al, 0x0A		; OCW3: read IRR
	out 0x20, al
	in al, 0x20
	test al, 0x01
	jz .ok
	cmp cx, 0x8000
	jae .ok
	inc bx			; the reload happened, its tick is not counted yet
.ok:	popf
	mov ax, bx
	shl eax, 16
	mov ax, cx
	ret

fail:
	print failed_msg
	mov al, [step]
	call put_hex8
	print chunk_msg
	mov ax, [index]
	call put_hex16
	print ata_msg
	mov al, [ata_st]
	call put_hex8
	print bm_msg
	mov al, [bm_st]
	call put_hex8
	print crlf
	exit_with 0x01

banner:     db "dma-bench: bus-master DMA, 64 KiB per command", 13, 10, 0
read_msg:   db "read ", 0
write_msg:  db "write", 0
flush_msg:  db "flush", 0
chunks_msg: db " chunks=", 0
t0_msg:     db " t0=", 0
t1_msg:     db " t1=", 0
done_msg:   db "dma-bench done", 13, 10, 0
failed_msg: db "dma-bench FAILED step ", 0
chunk_msg:  db " chunk ", 0
ata_msg:    db " ata ", 0
bm_msg:     db " bm ", 0
bmbase: dw 0
lba:	dd 0
index:	dw 0
t0:	dd 0
t1:	dd 0
cmd:	db 0
step:	db 0
ata_st:	db 0
bm_st:	db 0
	times 4608 - ($ - $$) db 0
