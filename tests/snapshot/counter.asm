; Snapshot test guest: a counter kept in RAM (twice: at 0000:0600 and at 128 MiB,
; reached in unreal mode) and on disk (sector COUNTER_LBA: 'SNAP', the count, its complement).
; Every BIOS timer tick (IRQ 0, 18.2 Hz) the guest
;   1. reads the sector back (INT 13h AH=42h) and the high copy,
;   2. checks RAM == high copy == disk; otherwise prints "MISMATCH c=... h=... d=..." and goes
;      on from the disk's value,
;   3. prints "c=RRRRRRRR d=DDDDDDDD" (hex, both before the step), counts one up in RAM and
;      writes the new value to the sector (AH=43h).
; At boot it starts from the sector's count when the sector holds one ("boot d=DDDDDDDD"),
; from 0 otherwise ("boot fresh"). Snapshots taken at any moment, reverted later, must bring
; RAM and disk back together: after a revert the guest goes on counting from the snapshot's
; count without a MISMATCH. A failing disk call prints "DISKFAIL" and halts.
%include "stage1.inc"
%include "clock.inc"
%include "unreal.inc"

%define COUNTER_LBA 2048
%define BUFSEG 0x1000		; the sector buffer at 1000:0000
%define MAGIC 0x50414E53	; "SNAP"
%define HIGH 0x08000000		; the high copy (128 MiB)
count equ 0x600			; the counter in low RAM (tests read it from ID.ram)

main:
	call read_sector
	jc disk_fail
	mov ax, BUFSEG
	mov es, ax
	cmp dword [es:0], MAGIC
	jne .fresh
	mov eax, [es:4]
	mov [count], eax
	print s_boot_d
	call put_hex32
	print crlf
	jmp .go
.fresh:	mov dword [count], 0
	print s_boot_fresh
	call write_sector
	jc disk_fail
.go:	mov eax, [count]
	call set_high

.step:	call wait_tick
	call read_sector
	jc disk_fail
	mov ax, BUFSEG
	mov es, ax
	mov eax, [es:4]
	mov [disk], eax
	call get_high
	mov [high], eax
	mov eax, [count]
	cmp dword [es:0], MAGIC
	jne .bad
	cmp eax, [disk]
	jne .bad
	cmp eax, [high]
	jne .bad
	mov ebx, [es:8]
	not ebx
	cmp eax, ebx
	je .good
.bad:	print s_mismatch
	mov eax, [count]
	call put_hex32
	print s_h
	mov eax, [high]
	call put_hex32
	print s_d
	mov eax, [disk]
	call put_hex32
	print crlf
	mov eax, [disk]		; go on from the disk's value
	mov [count], eax
	call set_high
	jmp .step
.good:	print s_c
	mov eax, [count]
	call put_hex32
	print s_d
	mov eax, [disk]
	call put_hex32
	print crlf
	mov eax, [count]
	inc eax
	mov [count], eax
	call set_high
	call write_sector
	jc disk_fail
	jmp .step

; read_sector / write_sector: the counter sector to/from 1000:0000; CF on an error
read_sector:
	mov byte [dap + 1], 0
	mov ah, 0x42
	jmp disk_io
write_sector:
	mov ax, BUFSEG
	mov es, ax
	xor di, di
	mov eax, MAGIC
	stosd
	mov eax, [count]
	stosd
	not eax
	stosd
	xor eax, eax
	mov cx, 125
	rep stosd
	mov ah, 0x43
disk_io:
	xor al, al
	mov si, dap
	mov dl, [boot_drive]
	int 0x13
	ret

; the high copy, through FS in unreal mode (BIOS calls may drop the limit: unreal every time)
set_high:			; EAX -> the high copy
	call unreal
	mov [fs:dword HIGH], eax
	ret
get_high:			; the high copy -> EAX
	call unreal
	mov eax, [fs:dword HIGH]
	ret

disk_fail:
	print s_diskfail
.halt:	cli
	hlt
	jmp .halt

dap:	db 0x10, 0
	dw 1, 0, BUFSEG
	dq COUNTER_LBA
disk:	dd 0
high:	dd 0

s_boot_d:     db "boot d=", 0
s_boot_fresh: db "boot fresh", 13, 10, 0
s_mismatch:   db "MISMATCH c=", 0
s_c:	      db "c=", 0
s_h:	      db " h=", 0
s_d:	      db " d=", 0
s_diskfail:   db "DISKFAIL", 13, 10, 0
	times 4608 - ($ - $$) db 0
