; The demo guest of the README: SeaBIOS boots it from the IDE disk; it shows on COM1 that it
; runs — the RTC's time through the BIOS, and a clock driven by the PIT's IRQ 0 — for five
; seconds, halting between timer ticks, then powers the VM off through ACPI.
%include "stage1.inc"
%include "clock.inc"

main:
	print banner
	mov ah, 0x02		; INT 1Ah AH=02h: RTC time in BCD (CH:CL:DH)
	int 0x1A
	print rtc_time
	call put_bcd_time
	print crlf
	sti
	mov si, 1
.second:
	mov ebx, [BIOS_TICKS]
	add ebx, 18		; about one second of IRQ 0 ticks
.wait:	hlt			; sleep until the next interrupt
	cmp [BIOS_TICKS], ebx
	jb .wait
	push si
	print running
	pop si
	mov ax, si
	call put_hex8
	push si
	print seconds
	pop si
	inc si
	cmp si, 6
	jb .second
	print bye
	pm_base			; then S5 through PM1a_CNT
	lea dx, [eax + 4]
	mov ax, 0x2000
	out dx, ax
	cli
	hlt

banner:   db 13, 10, "pcvm demo guest: SeaBIOS booted me from the IDE disk.", 13, 10, 0
rtc_time: db "RTC time (BIOS INT 1Ah): ", 0
running:  db "running, timer interrupts counted ", 0
seconds:  db " s", 13, 10, 0
bye:      db "powering off through ACPI (S5). Bye!", 13, 10, 0
	times 4608 - ($ - $$) db 0
