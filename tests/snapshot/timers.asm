; Snapshot test guest for timers and interrupts, two vCPUs. The BSP wakes the AP with INIT and
; two STARTUP IPIs (x2APIC ICR, as tests/guests/smp.asm). The AP turns its own x2APIC on and
; runs its LAPIC timer periodically (vector 65h, divide by 16, initial count 6250000: 100 ms
; at KVM's 1 GHz APIC bus); each interrupt counts `ap_count` one up. The BSP halts between
; BIOS timer ticks (IRQ 0 from the PIT through the PIC, 18.2 Hz, counted by the BIOS at
; 0040:006C) and every 4 ticks prints
;     t=TTTTTTTT ap=AAAAAAAA rtc=HH:MM:SS
; the BIOS tick count, the AP's count and the RTC time read through INT 1Ah AH=02h ("??:??:??"
; when the BIOS says the clock is not available). After a revert all three must keep going.
%include "stage1.inc"

%define FLAG 0x7000
%define TRAMPOLINE 0x9000	; above the guest (loaded at 7C00h-8DFFh)
%define AP_VECTOR 0x65
%define AP_STACK 0x6000

main:
	print s_start
	mov eax, 1
	cpuid
	test ecx, 1 << 21	; x2APIC
	jz no_x2apic
	mov word [AP_VECTOR * 4], ap_isr	; the AP's timer interrupt in the IVT
	mov word [AP_VECTOR * 4 + 2], 0
	mov si, ap_code		; copy the trampoline
	mov di, TRAMPOLINE
	mov cx, ap_end - ap_code
	rep movsb
	mov byte [FLAG], 0
	mov ecx, 0x1B		; IA32_APIC_BASE: enable x2APIC mode
	rdmsr
	or eax, (1 << 10) | (1 << 11)
	wrmsr
	mov eax, 0x00004500	; INIT, assert
	call send_ipi
	mov dx, 10000		; 10 ms
	call sleep_us
	mov eax, 0x00004600 | (TRAMPOLINE >> 12)	; STARTUP
	call send_ipi
	mov dx, 1000
	call sleep_us
	mov eax, 0x00004600 | (TRAMPOLINE >> 12)
	call send_ipi
	mov si, 2000		; wait up to 2 s for the AP
.wait:	cmp byte [FLAG], 0xA5
	je .up
	mov dx, 1000
	call sleep_us
	dec si
	jnz .wait
	print s_ap_missing
	exit_with 0x01
.up:	print s_ap_up

	mov eax, [0x46C]
	mov [last], eax
.loop:	mov eax, [0x46C]
.tick:	sti
	hlt
	cmp eax, [0x46C]
	je .tick
	mov eax, [0x46C]
	sub eax, [last]
	cmp eax, 4
	jb .loop
	mov eax, [0x46C]
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
	mov al, ch
	call put_hex8
	mov al, ':'
	call putc
	mov al, cl
	call put_hex8
	mov al, ':'
	call putc
	mov al, dh
	call put_hex8
	print crlf
	jmp .loop
.nortc:	print s_nortc
	jmp .loop

send_ipi:			; EAX = ICR low; destination APIC ID 1
	mov ecx, 0x830
	mov edx, 1
	wrmsr
	ret

sleep_us:			; DX microseconds, through the BIOS (INT 15h AH=86h)
	push si
	xor cx, cx
	mov ah, 0x86
	int 0x15
	pop si
	ret

put_hex32:			; EAX as eight hex digits
	push eax
	shr eax, 16
	call put_hex16
	pop eax
	call put_hex16
	ret

no_x2apic:
	print s_no_x2apic
	exit_with 0x03

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
	mov byte [FLAG], 0xA5
.halt:	sti
	hlt
	jmp .halt
ap_end:

ap_count: dd 0
last:	  dd 0
s_start:      db "timers: BSP starting the AP", 13, 10, 0
s_ap_up:      db "AP up", 13, 10, 0
s_ap_missing: db "AP did not start", 13, 10, 0
s_no_x2apic:  db "no x2APIC", 13, 10, 0
s_t:	      db "t=", 0
s_ap:	      db " ap=", 0
s_rtc:	      db " rtc=", 0
s_nortc:      db "??:??:??", 13, 10, 0
	times 4608 - ($ - $$) db 0
