; A guest that never ends: it says so on the firmware's debug port (0x402, which pcvm posts:
; KVM queues the bytes without an exit) and halts with interrupts on, for tests of a running
; VM. Nothing it does after the message exits to pcvm, so the line reaches pcvm.log only
; through the machine's own periodic look at the queue.
bits 16
org 0x7C00
	cld
	xor ax, ax
	mov ds, ax
	mov si, msg
	mov dx, 0x402
.out:	lodsb
	test al, al
	jz .idle
	out dx, al
	jmp .out
.idle:	sti
	hlt
	jmp .idle
msg:	db "spin: idle from here on", 10, 0
times 510 - ($ - $$) db 0
dw 0xAA55
