; An instruction the build machines' instruction-emulating KVM cannot execute (DAA in real
; mode). There, pcvm must stop the VM with a report that holds the guest's registers, not hang
; (QEMU hangs); with VT-x/AMD-V the instruction simply runs.
%include "sector.inc"
main:
	print before
	mov al, 0x15
	add al, 0x27
	daa
	print after
	exit_with 0x10
before:	db "executing DAA", 13, 10, 0
after:	db "DAA executed", 13, 10, 0
sector_end
