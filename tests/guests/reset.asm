; Every reset path reboots the machine in-process: the PIIX reset control register (0xCF9),
; the keyboard controller's pulse (0x64 <- 0xFE), port 0x92 bit 0 and a triple fault. A boot
; counter in battery-backed CMOS (byte 0x48) survives each reset and picks the next path.
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
	cmp bx, 5
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
reset_triple:
	print via_triple
	cli
	lgdt [gdt_desc]
	lidt [empty_idt]	; an IDT with no entries
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp 0x08:.pm		; 16-bit protected mode: here the IDT limit is always checked
.pm:	int3			; #GP for the vector, #DF for the #GP, then the CPU shuts down
	jmp stuck

stuck:	print not_reset
	exit_with 0x01

done:
	mov ax, COUNTER		; leave CMOS as we found it
	call cmos_write
	print all_done
	exit_with 0x10

paths:	dw reset_cf9, reset_kbc, reset_92, reset_triple
empty_idt: dw 0
	dd 0
gdt:	dq 0
	dq 0x00009A000000FFFF	; 0x08: 16-bit code, base 0, limit 64 KiB
gdt_desc: dw gdt_desc - gdt - 1
	dd gdt
boot:	db 0
booted:     db "boot ", 0
via_cf9:    db "reset through 0xCF9", 13, 10, 0
via_kbc:    db "reset through the keyboard controller", 13, 10, 0
via_92:     db "reset through port 0x92", 13, 10, 0
via_triple: db "reset through a triple fault", 13, 10, 0
not_reset:  db "the machine did not reset", 13, 10, 0
all_done:   db "all four reset paths rebooted the machine", 13, 10, 0
	times 4608 - ($ - $$) db 0
