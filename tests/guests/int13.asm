; Disk I/O through the BIOS: INT 13h extended reads and writes (AH=42h/43h) of many sectors at
; once, and CHS reads and writes (AH=02h/03h). The host fills sectors 16-31 with the pattern
; (sector * 13 + offset) & 0xFF; afterwards it checks what this guest wrote: sectors 48-55 and
; sector 56 hold (offset * 3) ^ 0xA5, the offset counted from the start of sector 48.
%include "stage1.inc"
%include "check.inc"

main:
	mov ah, 0x41		; extensions present?
	mov bx, 0x55AA
	mov dl, [boot_drive]
	int 0x13
	check 1
	mov si, dap_read	; 16 sectors from LBA 16 to 1000:0000
	call ext_io
	check 2
	mov ax, 0x1000
	mov es, ax
	xor di, di
	mov bl, 16
.sector:
	xor cx, cx
.byte:	mov al, bl
	mov ah, 13
	mul ah
	add al, cl
	cmp [es:di], al
	stc
	jne .bad
	clc
.bad:	check 3
	inc di
	inc cx
	cmp cx, 512
	jb .byte
	inc bl
	cmp bl, 32
	jb .sector
	print ok_read

	mov ax, 0x2000		; 8 sectors of (offset * 3) ^ 0xA5 at 2000:0000
	mov es, ax
	xor di, di
	xor cx, cx
.fill:	mov ax, cx
	mov dx, 3
	mul dx
	xor al, 0xA5
	stosb
	inc cx
	cmp cx, 4096
	jb .fill
	mov si, dap_write
	call ext_io
	check 4
	mov si, dap_verify	; read them back to 3000:0000 and compare
	call ext_io
	check 5
	mov ax, 0x3000
	mov cx, 4096
	call compare_with_2000
	check 6
	print ok_write

	mov ax, 0x4000		; CHS read of cylinder 0, head 0, sector 17 (= LBA 16)
	mov es, ax
	xor bx, bx
	mov ax, 0x0201
	mov cx, 0x0011
	xor dh, dh
	mov dl, [boot_drive]
	int 0x13
	check 7
	push ds
	mov ax, 0x1000
	mov ds, ax
	xor si, si
	xor di, di
	mov cx, 512
	repe cmpsb
	pop ds
	stc
	jne .chsbad
	clc
.chsbad:
	check 8
	mov ax, 0x2000		; CHS write of sector 57 (= LBA 56) from 2000:0000
	mov es, ax
	xor bx, bx
	mov ax, 0x0301
	mov cx, 0x0039
	xor dh, dh
	mov dl, [boot_drive]
	int 0x13
	check 9
	print ok_chs
	exit_with 0x10

ext_io:				; DS:SI = DAP; AH in the DAP's spare byte
	mov ah, [si + 1]
	mov byte [si + 1], 0
	mov [saved_ah], ah
	mov dl, [boot_drive]
	int 0x13
	mov ah, [saved_ah]
	mov [si + 1], ah
	ret

compare_with_2000:		; AX = segment, CX = bytes; CF set if they differ from 2000:0
	push ds
	mov es, ax
	mov ax, 0x2000
	mov ds, ax
	xor si, si
	xor di, di
	repe cmpsb
	pop ds
	clc
	je .same
	stc
.same:	ret

; disk address packets; the byte after the size holds the INT 13h function (ext_io)
dap_read:   db 0x10, 0x42
	    dw 16, 0, 0x1000
	    dq 16
dap_write:  db 0x10, 0x43
	    dw 8, 0, 0x2000
	    dq 48
dap_verify: db 0x10, 0x42
	    dw 8, 0, 0x3000
	    dq 48
ok_read:  db "int13 ext read of 16 sectors ok", 13, 10, 0
ok_write: db "int13 ext write of 8 sectors ok", 13, 10, 0
ok_chs:   db "int13 chs read and write ok", 13, 10, 0
failed:   db "int13 FAILED at step ", 0
saved_ah: db 0
	times 4608 - ($ - $$) db 0
