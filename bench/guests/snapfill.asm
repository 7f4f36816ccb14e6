; bench/snapshot.sh's guest: writes a pattern over FILL_MIB MiB of RAM from 1 MiB up (nasm
; -DFILL_MIB=N), so that a snapshot has that much guest-written memory to save, then prints
; "filled N MiB" on COM1 and idles (HLT with interrupts on: the BIOS timer ticks on).
; Each 4 KiB page gets its own contents: its physical address in the first dword, then a
; constant non-zero pattern (no zero pages, no two pages alike). Written in unreal mode (ES with
; a 4 GiB limit, `a32 rep stosd`), 1 MiB at a time with interrupts off, a dot on COM1 every
; 64 MiB.
%include "stage1.inc"
%include "unreal.inc"

%ifndef FILL_MIB
%define FILL_MIB 64
%endif
%define PATTERN 0xA55AC33C

main:
	print s_start
	mov ebx, 0x100000	; next MiB to fill
	mov ebp, FILL_MIB
.mib:	cli
	call unreal
	mov edi, ebx
	mov eax, PATTERN
	mov ecx, 0x40000	; 1 MiB in dwords
	a32 rep stosd
	mov edi, ebx		; each page: its address first
	mov ecx, 256
.page:	mov [es:edi], edi
	add edi, 4096
	loop .page
	xor ax, ax
	mov es, ax
	sti
	add ebx, 0x100000
	dec ebp
	test ebp, 63
	jnz .more
	mov al, '.'
	call putc
.more:	test ebp, ebp
	jnz .mib
	print s_filled
	mov ax, FILL_MIB
	call put_dec
	print s_mib
.idle:	sti
	hlt
	jmp .idle

put_dec:			; AX in decimal
	xor cx, cx
	mov si, 10
.div:	xor dx, dx
	div si
	push dx
	inc cx
	test ax, ax
	jnz .div
.out:	pop ax
	add al, '0'
	call putc
	loop .out
	ret

s_start:  db "snapfill: writing RAM", 13, 10, 0
s_filled: db 13, 10, "filled ", 0
s_mib:	  db " MiB", 13, 10, 0
	times 4608 - ($ - $$) db 0
