; ACPI soft-off: the guest finds the PIIX4 PM I/O base the firmware programmed (PCI 00:01.3,
; config 0x40) and writes SLP_TYP = 0 (SeaBIOS's \_S5) with SLP_EN to PM1a_CNT. The VMM must
; exit with status 0.
%include "stage1.inc"

main:
	pm_base
	mov bx, ax
	print powering_off
	lea dx, [bx + 4]	; PM1a_CNT
	mov ax, 0x2000		; SLP_EN, SLP_TYP 0
	out dx, ax
	mov cx, 0xFFFF
.wait:	loop .wait
	print still_on
	exit_with 0x02

powering_off: db "powering off through PM1a_CNT", 13, 10, 0
still_on:     db "still running after S5", 13, 10, 0
	times 4608 - ($ - $$) db 0
