; ACPI power button, as an OS handles it: the guest finds the PIIX4 PM I/O base the firmware
; programmed (PCI 00:01.3, config 0x40), turns ACPI mode on through SMI_CMD (0xB2, the FADT's
; ACPI_ENABLE value 0xF1) and waits for SCI_EN, enables PWRBTN_EN in PM1_EN, prints "ready" and
; polls PM1_STS once per timer tick until PWRBTN_STS (bit 8) is set: the test presses the
; button then (`pcvm powerdown`, QEMU's system_powerdown). It clears the bit (write 1), checks
; that it reads 0, and powers off: SLP_TYP 0 (SeaBIOS's \_S5) with SLP_EN in PM1_CNT. The VMM
; must exit with status 0. Without a press within about 60 s it reports that and fails.
%include "stage1.inc"
%include "clock.inc"

%define PM1_STS 0
%define PM1_EN 2
%define PM1_CNT 4
%define PWRBTN 0x0100		; PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN
%define SCI_EN 0x0001
%define SLP_EN 0x2000
%define SMI_CMD 0xB2
%define ACPI_ENABLE 0xF1
%define PRESS_TICKS 1092	; 60 s at 18.2 Hz

main:
	pm_base
	mov [pmba], ax

	mov al, ACPI_ENABLE	; what an OS does when the FADT's SMI_CMD is not zero
	out SMI_CMD, al
	mov cx, 100		; ACPI 2.0 §4.7.2.5: the OS polls SCI_EN
.sci:	mov dx, [pmba]
	add dx, PM1_CNT
	in ax, dx
	test ax, SCI_EN
	jnz .acpi
	call wait_tick
	loop .sci
	print no_sci
	exit_with 0x02
.acpi:	print acpi_on

	mov dx, [pmba]
	add dx, PM1_STS
	mov ax, PWRBTN		; a stale press would be taken for the test's
	out dx, ax
	mov dx, [pmba]
	add dx, PM1_EN
	mov ax, PWRBTN
	out dx, ax
	in ax, dx
	cmp ax, PWRBTN
	jne .en_bad
	print ready

	mov cx, PRESS_TICKS
.poll:	call wait_tick
	mov dx, [pmba]
	add dx, PM1_STS
	in ax, dx
	test ax, PWRBTN
	jnz .pressed
	loop .poll
	print no_press
	exit_with 0x03

.pressed:
	print pressed
	mov ax, PWRBTN		; write 1 to clear
	out dx, ax
	in ax, dx
	test ax, PWRBTN
	jnz .still_set
	print cleared
	print powering_off
	mov dx, [pmba]
	add dx, PM1_CNT
	in ax, dx
	and ax, ~0x1C00		; SLP_TYP 0 (\_S5)
	or ax, SLP_EN
	out dx, ax
	mov cx, 0xFFFF
.wait:	loop .wait
	print still_on
	exit_with 0x04

.en_bad:
	call put_hex16
	print en_bad
	exit_with 0x05
.still_set:
	print not_cleared
	exit_with 0x06

pmba:         dw 0
acpi_on:      db "ACPI mode on: SCI_EN set", 13, 10, 0
ready:        db "ready: PWRBTN_EN set, waiting for the power button", 13, 10, 0
pressed:      db "power button pressed: PWRBTN_STS set", 13, 10, 0
cleared:      db "PWRBTN_STS cleared by writing 1", 13, 10, 0
powering_off: db "powering off through PM1a_CNT (S5)", 13, 10, 0
no_sci:       db "SCI_EN never set after ACPI_ENABLE", 13, 10, 0
no_press:     db "no power button press within 60 s", 13, 10, 0
en_bad:       db " read back from PM1_EN, not 0100", 13, 10, 0
not_cleared:  db "PWRBTN_STS still set after writing 1", 13, 10, 0
still_on:     db "still running after S5", 13, 10, 0
	times 4608 - ($ - $$) db 0
