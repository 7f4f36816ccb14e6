; The CD drive seen from a guest while the host changes discs (tests/integration/media.py
; drives the host side). The guest polls the secondary master with TEST UNIT READY once per
; timer tick and prints every change of state: "ready", or the sense key/ASC/ASCQ that REQUEST
; SENSE returns after a CHECK CONDITION. Each time the drive becomes ready it reads the primary
; volume descriptor (LBA 16) by READ (10) and prints the volume identifier. After the second
; disc it locks the tray (PREVENT MEDIUM REMOVAL) and keeps it locked through a forced eject
; and the next disc — until it has read the third disc; then it unlocks it and exits. All
; ATAPI transfers are PIO, drive interrupts off.
%include "stage1.inc"
%include "ata.inc"

%define PVD_BUF 0x9000

main:
	mov dx, SEC_CTRL	; nIEN: polled
	mov al, 0x0A
	out dx, al
	sti
	print polling
.poll:	call unit_state
	jc fault
	mov ax, [state]
	cmp ax, [last]
	jne .changed
	mov al, [state + 2]
	cmp al, [last + 2]
	je .wait
.changed:
	mov ax, [state]
	mov [last], ax
	mov al, [state + 2]
	mov [last + 2], al
	cmp byte [state], 0xFF
	je .ready
	print sense
	mov ax, [state]		; key, ASC
	mov dl, [state + 2]	; ASCQ
	call atapi_put_sense
	print crlf
	jmp .wait
.ready:	print ready
	call read_volume
	jc fault
	inc byte [volumes]
	cmp byte [volumes], 2
	jne .third
	mov byte [cdb_lock + 4], 1
	call lock_cmd
	jc fault
	print locked_msg
.third:	cmp byte [volumes], 3
	jne .wait
	mov byte [cdb_lock + 4], 0	; ALLOW MEDIUM REMOVAL
	call lock_cmd
	jc fault
	print unlocked
	print done
	exit_with 0x10
.wait:	hlt			; until the next timer tick
	jmp .poll

; unit_state: TEST UNIT READY; [state] = FF 00 00 when ready, else the sense key, ASC and ASCQ
; of REQUEST SENSE. CF on a protocol fault.
unit_state:
	mov si, cdb_tur
	xor al, al
	call atapi_packet
	jnc .ready
	cmp byte [atapi_fault], 0
	jne .fault
	mov si, cdb_sense
	mov di, PVD_BUF
	xor al, al
	call atapi_packet
	jc .fault
	mov al, [PVD_BUF + 2]
	and al, 0x0F
	mov [state], al
	mov al, [PVD_BUF + 12]
	mov [state + 1], al
	mov al, [PVD_BUF + 13]
	mov [state + 2], al
	clc
	ret
.ready:	mov byte [state], 0xFF
	mov word [state + 1], 0
	ret
.fault:	stc
	ret

; read_volume: READ (10) of LBA 16; prints the volume identifier (bytes 40-71, up to the
; first space). CF on failure.
read_volume:
	mov si, cdb_read_pvd
	mov di, PVD_BUF
	xor al, al
	call atapi_packet
	jc .out
	cmp word [atapi_len], 2048
	jne .bad
	cmp dword [PVD_BUF + 1], 'CD00'
	jne .bad
	print volume
	mov si, PVD_BUF + 40
	mov cx, 32
.char:	lodsb
	cmp al, ' '
	jbe .end
	call putc
	loop .char
.end:	print crlf
	clc
.out:	ret
.bad:	stc
	ret

lock_cmd:			; PREVENT ALLOW MEDIUM REMOVAL, Prevent = [cdb_lock + 4]
	mov si, cdb_lock
	xor al, al
	jmp atapi_packet

fault:
	print faulted
	mov al, [bm_status]
	call put_hex8
	print crlf
	exit_with 0x01

cdb_read_pvd:	db 0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0, 0, 0
cdb_lock:	db 0x1E, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
state:		db 0, 0, 0
last:		db 0xEE, 0xEE, 0xEE	; nothing printed yet
volumes:	db 0
polling:	db "media: polling the CD drive", 13, 10, 0
ready:		db "cd: ready", 13, 10, 0
sense:		db "cd: check condition, sense ", 0
volume:		db "cd: volume ", 0
locked_msg:	db "cd: tray locked", 13, 10, 0
unlocked:	db "cd: tray unlocked", 13, 10, 0
done:		db "media: third disc read, done", 13, 10, 0
faulted:	db "media: ATAPI protocol fault", 13, 10, 0
	times 4608 - ($ - $$) db 0
