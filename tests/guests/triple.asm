; A triple fault resets the machine: with an empty IDT in protected mode, a breakpoint raises
; #GP, the #GP raises #DF, and the CPU shuts down; the chipset turns that into a reset. A boot
; counter in CMOS (byte 0x49) tells the second boot from the first.
; (The build machines' instruction-emulating KVM cannot deliver these exceptions; the test
; runs where the CPU has VT-x or AMD-V.)
%include "stage1.inc"

%define COUNTER 0x49

main:
	mov al, COUNTER
	call cmos_read
	test al, al
	jnz rebooted
	mov ax, 0x0100 | COUNTER
	call cmos_write
	print faulting
	cli
	lgdt [gdt_desc]
	lidt [empty_idt]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp 0x08:.pm
.pm:	int3
	print not_reset
	exit_with 0x01

rebooted:
	mov ax, COUNTER		; leave CMOS as we found it
	call cmos_write
	print after_reset
	exit_with 0x10

empty_idt: dw 0
	dd 0
gdt:	dq 0
	dq 0x00009A000000FFFF	; 0x08: 16-bit code, base 0, limit 64 KiB
gdt_desc: dw gdt_desc - gdt - 1
	dd gdt
faulting:    db "triple fault", 13, 10, 0
not_reset:   db "the machine did not reset", 13, 10, 0
after_reset: db "rebooted after the triple fault", 13, 10, 0
	times 4608 - ($ - $$) db 0
