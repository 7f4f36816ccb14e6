; A guest whose COM1 output grows only while the VMM's main loop runs: it prints "tick" on every
; 8th periodic interrupt of the RTC (64 Hz, so 8 lines a second), and pcvm's RTC fires its
; periodic interrupt from a timer on the main loop (the UART itself writes from the vCPU
; thread, and the PIT is in the kernel: neither would show a stalled loop).
; MC146818A: register A bits 0-3 the periodic rate (32768 >> (rate - 1) Hz), register B bit 6
; PIE, register C read to acknowledge; IRQ 8 is INT 70h as SeaBIOS programs the slave 8259.
; vnc_stall.py runs it; it never exits.
bits 16
org 0x7C00

%define COM1 0x3F8
%define RTC_INDEX 0x70
%define RTC_DATA 0x71
%define RATE_64HZ 10
%define TICKS_PER_LINE 8

start:
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7C00
	mov word [0x70 * 4], rtc_irq
	mov word [0x70 * 4 + 2], 0
	mov al, 0x0A ; register A: the divider kept, the rate set
	out RTC_INDEX, al
	in al, RTC_DATA
	and al, 0xF0
	or al, RATE_64HZ
	mov ah, al
	mov al, 0x0A
	out RTC_INDEX, al
	mov al, ah
	out RTC_DATA, al
	mov al, 0x0B ; register B: PIE
	out RTC_INDEX, al
	in al, RTC_DATA
	or al, 0x40
	mov ah, al
	mov al, 0x0B
	out RTC_INDEX, al
	mov al, ah
	out RTC_DATA, al
	mov al, 0x0C
	out RTC_INDEX, al
	in al, RTC_DATA
	in al, 0xA1 ; unmask IRQ 8, and IRQ 2 (the cascade) on the master
	and al, 0xFE
	out 0xA1, al
	in al, 0x21
	and al, 0xFB
	out 0x21, al
	mov si, msg_ready
	call puts
	mov word [next], TICKS_PER_LINE
idle:
	sti
	hlt
	cli
	mov ax, [ticks]
	sub ax, [next]
	js idle ; not yet (signed difference: the counter wraps)
	add word [next], TICKS_PER_LINE
	mov si, msg_tick
	call puts
	jmp idle

rtc_irq:
	push ax
	mov al, 0x0C
	out RTC_INDEX, al
	in al, RTC_DATA ; acknowledges the interrupt
	inc word [cs:ticks]
	mov al, 0x20
	out 0xA0, al
	out 0x20, al
	pop ax
	iret

; puts: the zero-terminated string at DS:SI to COM1, waiting for THRE
puts:
	lodsb
	test al, al
	jz .done
	mov ah, al
	mov dx, COM1 + 5
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	mov al, ah
	mov dx, COM1
	out dx, al
	jmp puts
.done:
	ret

msg_ready: db "stall guest ready", 13, 10, 0
msg_tick: db "tick", 13, 10, 0
ticks: dw 0
next: dw 0

	times 510 - ($ - $$) db 0
	dw 0xAA55
