; Two vCPUs: the BSP wakes the other CPU with INIT and two STARTUP IPIs (x2APIC ICR, MSR 0x830);
; the AP runs a trampoline at 0x8000 that sets a flag and says hello, and the BSP waits for it.
%include "stage1.inc"

%define FLAG 0x7000
%define TRAMPOLINE 0x8000

main:
	print bsp_up
	mov eax, 1
	cpuid
	test ecx, 1 << 21	; x2APIC
	jz no_x2apic
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
	print ap_missing
	exit_with 0x01
.up:	print ap_up
	exit_with 0x10

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

no_x2apic:
	print no_x2apic_msg
	exit_with 0x03

ap_code:			; runs at 0800:0000 on the AP
	cli
	xor ax, ax
	mov ds, ax
	mov byte [FLAG], 0xA5
.halt:	hlt
	jmp .halt
ap_end:

bsp_up:       db "BSP: sending INIT-SIPI-SIPI to APIC 1", 13, 10, 0
ap_up:        db "AP started and ran the trampoline", 13, 10, 0
ap_missing:   db "AP did not start", 13, 10, 0
no_x2apic_msg: db "no x2APIC", 13, 10, 0
	times 4608 - ($ - $$) db 0
