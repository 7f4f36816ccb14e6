; Two vCPUs: the BSP wakes the other CPU with INIT and two STARTUP IPIs (x2APIC ICR, MSR 0x830);
; the AP runs a trampoline at 0x8000 that sets a flag and says hello, and the BSP waits for it.
%include "stage1.inc"
%include "smp.inc"

%define TRAMPOLINE 0x8000

main:
	print bsp_up
	mov si, ap_code
	mov cx, ap_end - ap_code
	mov di, TRAMPOLINE
	call smp_start_ap
	print ap_up
	exit_with 0x10

ap_code:			; runs at 0800:0000 on the AP
	cli
	xor ax, ax
	mov ds, ax
	mov byte [SMP_FLAG], SMP_UP
.halt:	hlt
	jmp .halt
ap_end:

bsp_up:       db "BSP: sending INIT-SIPI-SIPI to APIC 1", 13, 10, 0
ap_up:        db "AP started and ran the trampoline", 13, 10, 0
	times 4608 - ($ - $$) db 0
