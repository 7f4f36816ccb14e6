; The reset lines reboot the machine in-process: the PIIX reset control register (0xCF9), the
; keyboard controller's pulse (0x64 <- 0xFE) and port 0x92 bit 0. A boot counter in
; battery-backed CMOS (byte 0x48) survives each reset and picks the next path. (The triple
; fault has a guest of its own, triple.asm.)
%include "stage1.inc"

%define COUNTER 0x48

main:
	mov al, COUNTER
	call cmos_read
	inc al
	mov ah, al
	mov [boot], al
	mov al, COUNTER
	call cmos_write
	print booted
	mov al, [boot]
	call put_hex8
	print crlf
	movzx bx, byte [boot]
	cmp bx, 4
	jae done
	shl bx, 1
	jmp [paths + bx - 2]

reset_cf9:
	print via_cf9
	mov dx, 0xCF9
	mov al, 0x02
	out dx, al
	mov al, 0x06
	out dx, al
	jmp stuck
reset_kbc:
	print via_kbc
	mov al, 0xFE
	out 0x64, al
	jmp stuck
reset_92:
	print via_92
	in al, 0x92
	or al, 1
	out 0x92, al
	jmp stuck
stuck:	print not_reset
	exit_with 0x01

done:
	mov ax, COUNTER		; leave CMOS as we found it
	call cmos_write
	print all_done
	exit_with 0x10

paths:	dw reset_cf9, reset_kbc, reset_92
boot:	db 0
booted:     db "boot ", 0
via_cf9:    db "reset through 0xCF9", 13, 10, 0
via_kbc:    db "reset through the keyboard controller", 13, 10, 0
via_92:     db "reset through port 0x92", 13, 10, 0
not_reset:  db "the machine did not reset", 13, 10, 0
all_done:   db "all three reset lines rebooted the machine", 13, 10, 0
	times 4608 - ($ - $$) db 0
