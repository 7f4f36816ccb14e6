; A guest that never ends: it halts with interrupts on, for tests of a running VM.
bits 16
org 0x7C00
	sti
.idle:	hlt
	jmp .idle
times 510 - ($ - $$) db 0
dw 0xAA55
