; Snapshot test guest for timers and interrupts, two vCPUs. The BSP wakes the AP with INIT and
; two STARTUP IPIs (x2APIC ICR, smp.inc, as tests/guests/smp.asm). The AP turns its own x2APIC on and
; runs its LAPIC timer periodically (vector 65h, divide by 16, initial count 6250000: 100 ms
; at KVM's 1 GHz APIC bus); each interrupt counts `ap_count` one up. The BSP halts between
; BIOS timer ticks (IRQ 0 from the PIT through the PIC, 18.2 Hz, counted by the BIOS at
; 0040:006C) and every 4 ticks prints
;     t=TTTTTTTT ap=AAAAAAAA rtc=HH:MM:SS
; the BIOS tick count, the AP's count and the RTC time read through INT 1Ah AH=02h ("??:??:??"
; when the BIOS says the clock is not available). After a revert all three must keep going.
%include "stage1.inc"
%include "smp.inc"
%include "clock.inc"

%define TRAMPOLINE 0x9000	; above the guest (loaded at 7C00h-8DFFh)
%define AP_VECTOR 0x65
%define AP_STACK 0x6000

main:
	print s_start
	mov word [AP_VECTOR * 4], ap_isr	; the AP's timer interrupt in the IVT
	mov word [AP_VECTOR * 4 + 2], 0
	mov si, ap_code
	mov cx, ap_end - ap_code
	mov di, TRAMPOLINE
	call smp_start_ap
	print s_ap_up

	mov eax, [BIOS_TICKS]
	mov [last], eax
.loop:	call wait_tick
	mov eax, [BIOS_TICKS]
	sub eax, [last]
	cmp eax, 4
	jb .loop
	mov eax, [BIOS_TICKS]
	mov [last], eax
	print s_t
	call put_hex32
	print s_ap
	mov eax, [ap_count]
	call put_hex32
	print s_rtc
	mov ah, 0x02
	clc
	int 0x1A
	jc .nortc
	call put_bcd_time
	print crlf
	jmp .loop
.nortc:	print s_nortc
	jmp .loop

ap_isr:				; the AP's LAPIC timer (DS = 0 on the AP)
	push eax
	push ecx
	push edx
	inc dword [ap_count]
	mov ecx, 0x80B		; x2APIC EOI
	xor eax, eax
	xor edx, edx
	wrmsr
	pop edx
	pop ecx
	pop eax
	iret

ap_code:			; runs at 0900:0000 on the AP
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, AP_STACK
	mov ecx, 0x1B		; this CPU's APIC in x2APIC mode
	rdmsr
	or eax, (1 << 10) | (1 << 11)
	wrmsr
	xor edx, edx
	mov ecx, 0x80F		; spurious vector register: APIC on, vector FFh
	mov eax, 0x1FF
	wrmsr
	mov ecx, 0x83E		; divide configuration: by 16
	mov eax, 0x3
	wrmsr
	mov ecx, 0x832		; LVT timer: periodic, vector AP_VECTOR
	mov eax, (1 << 17) | AP_VECTOR
	wrmsr
	mov ecx, 0x838		; initial count
	mov eax, 6250000
	wrmsr
	mov byte [SMP_FLAG], SMP_UP
.halt:	sti
	hlt
	jmp .halt
ap_end:

ap_count: dd 0
last:	  dd 0
s_start:      db "timers: BSP starting the AP", 13, 10, 0
s_ap_up:      db "AP up", 13, 10, 0
s_t:	      db "t=", 0
s_ap:	      db " ap=", 0
s_rtc:	      db " rtc=", 0
s_nortc:      db "??:??:??", 13, 10, 0
	times 4608 - ($ - $$) db 0
