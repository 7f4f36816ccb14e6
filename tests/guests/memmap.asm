; The memory map as a guest sees it: every INT 15h E820 entry ("e820 BASE LENGTH TYPE", hex),
; the CMOS memory bytes 34h-35h (64 KiB units above 16 MiB, below 4 GiB) and 5Bh-5Dh (64 KiB
; units above 4 GiB), and, when E820 has RAM at 4 GiB, that RAM used through PAE paging:
;   - a word written 2 MiB + 100h into it, with another word at physical 0020_0100h (so that
;     RAM at 4 GiB aliasing low RAM shows),
;   - a word written to the last dword of that RAM,
;   - a word written to the first 2 MiB page past its end, which is no RAM and must not keep it.
; Each is printed as read back; the test (integration/memory.py) judges. The paging part is
; built only with -DPAGING: a KVM without VT-x/AMD-V cannot run it. Ends with exit_with 10h.
%include "stage1.inc"

%define E820_BUF 0x6000		; one 20-byte entry
%define PDPT 0x10000		; page tables at 1000:0000: PDPT, PD for 0-1 GiB, PD for 1-2 GiB
%define PD_LOW 0x11000
%define PD_HIGH 0x12000
%define PDE_2M 0x83		; present, writable, 2 MiB page
%define LOW_WORD 0x4C4F5721
%define HIGH_WORD 0x48494748
%define LAST_WORD 0x5441494C
%define PAST_WORD 0x50415354
%define V_HIGH 0x40000000	; virtual addresses of the three high pages (PD_HIGH 0-2)
%define V_LAST 0x40200000
%define V_PAST 0x40400000

main:
	call e820_list
	print s_cmos
	mov al, 0x35
	call cmos_read
	call put_hex8
	mov al, 0x34
	call cmos_read
	call put_hex8
	print s_cmos_high
	mov al, 0x5D
	call cmos_read
	call put_hex8
	mov al, 0x5C
	call cmos_read
	call put_hex8
	mov al, 0x5B
	call cmos_read
	call put_hex8
	print crlf
%ifdef PAGING
	cmp dword [high_end + 4], 0
	je .done
	call high_test
	call high_report
.done:
%endif
	exit_with 0x10

; e820_list: prints each entry; remembers the end of the RAM entry that starts at 4 GiB
e820_list:
	xor ebx, ebx
.next:	mov eax, 0xE820
	mov edx, 0x534D4150	; 'SMAP'
	mov ecx, 20
	mov di, E820_BUF
	int 0x15
	jc .end
	cmp eax, 0x534D4150
	jne .end
	push ebx
	print s_e820
	mov eax, [E820_BUF + 4]
	call put_hex32
	mov eax, [E820_BUF]
	call put_hex32
	mov al, ' '
	call putc
	mov eax, [E820_BUF + 12]
	call put_hex32
	mov eax, [E820_BUF + 8]
	call put_hex32
	mov al, ' '
	call putc
	mov al, [E820_BUF + 16]
	call put_hex8
	print crlf
	cmp dword [E820_BUF + 16], 1
	jne .skip
	cmp dword [E820_BUF], 0
	jne .skip
	cmp dword [E820_BUF + 4], 1
	jne .skip
	mov eax, [E820_BUF + 8]	; end = 4 GiB + length
	mov edx, [E820_BUF + 12]
	add edx, 1
	mov [high_end], eax
	mov [high_end + 4], edx
.skip:	pop ebx
	test ebx, ebx
	jnz .next
.end:	ret

; pde EDX:EAX (a 2 MiB-aligned physical address) at ES:DI
set_pde:
	or eax, PDE_2M
	mov [es:di], eax
	mov [es:di + 4], edx
	ret

; high_test: builds the page tables, enters 32-bit protected mode with PAE paging, writes and
; reads the four words, and comes back to real mode.
high_test:
	cli
	push es
	mov ax, PDPT >> 4
	mov es, ax
	xor di, di
	xor eax, eax
	mov cx, 0x3000 / 4
	rep stosd
	mov dword [es:0], PD_LOW | 1
	mov dword [es:8], PD_HIGH | 1
	xor edx, edx
	mov di, PD_LOW - PDPT		; identity: 0-4 MiB
	xor eax, eax
	call set_pde
	mov di, PD_LOW - PDPT + 8
	mov eax, 0x200000
	call set_pde
	mov di, PD_HIGH - PDPT		; 4 GiB + 2 MiB
	mov eax, 0x200000
	mov edx, 1
	call set_pde
	mov eax, [high_end]		; the page holding the last dword
	mov edx, [high_end + 4]
	sub eax, 4
	sbb edx, 0
	mov ecx, eax
	and ecx, 0x1FFFFF
	mov [last_off], ecx
	and eax, 0xFFE00000
	mov di, PD_HIGH - PDPT + 8
	call set_pde
	mov eax, [high_end]		; the first page past the end
	mov edx, [high_end + 4]
	add eax, 0x1FFFFF
	adc edx, 0
	and eax, 0xFFE00000
	mov [past_addr], eax
	mov [past_addr + 4], edx
	mov di, PD_HIGH - PDPT + 16
	call set_pde
	pop es
	lgdt [gdtr]
	mov eax, cr4
	or eax, 0x20			; PAE
	mov cr4, eax
	mov eax, PDPT
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000001		; PG, PE
	mov cr0, eax
	jmp 0x08:pm32

bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov dword [0x200100], LOW_WORD
	mov dword [V_HIGH + 0x100], HIGH_WORD
	mov ebx, [last_off]
	mov dword [V_LAST + ebx], LAST_WORD
	mov dword [V_PAST], PAST_WORD
	mov eax, [0x200100]
	mov [got_low], eax
	mov eax, [V_HIGH + 0x100]
	mov [got_high], eax
	mov eax, [V_LAST + ebx]
	mov [got_last], eax
	mov eax, [V_PAST]
	mov [got_past], eax
	jmp 0x18:pm16

bits 16
pm16:
	mov ax, 0x20
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, cr0
	and eax, 0x7FFFFFFE
	mov cr0, eax
	jmp 0:.real
.real:	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, cr4
	and eax, ~0x20
	mov cr4, eax
	sti
	ret

high_report:
	print s_high
	mov eax, [got_high]
	call put_hex32
	print s_low
	mov eax, [got_low]
	call put_hex32
	print s_last
	mov eax, [high_end + 4]
	call put_hex32
	mov eax, [high_end]
	sub eax, 4
	call put_hex32
	print s_colon
	mov eax, [got_last]
	call put_hex32
	print s_past
	mov eax, [past_addr + 4]
	call put_hex32
	mov eax, [past_addr]
	call put_hex32
	print s_colon
	mov eax, [got_past]
	call put_hex32
	print crlf
	ret

	align 8
gdt:	dq 0
	dq 0x00CF9A000000FFFF	; 08h: code, 32-bit, flat
	dq 0x00CF92000000FFFF	; 10h: data, flat
	dq 0x00009A000000FFFF	; 18h: code, 16-bit, 64 KiB
	dq 0x000092000000FFFF	; 20h: data, 64 KiB
gdtr:	dw $ - gdt - 1
	dd gdt

high_end:  dq 0
past_addr: dq 0
last_off:  dd 0
got_low:   dd 0
got_high:  dd 0
got_last:  dd 0
got_past:  dd 0
s_e820:      db "e820 ", 0
s_cmos:      db "cmos 35-34 ", 0
s_cmos_high: db " 5D-5B ", 0
s_high:      db "4 GiB + 2 MiB + 100h: ", 0
s_low:       db ", 0020_0100h: ", 0
s_last:      db 13, 10, "last dword ", 0
s_past:      db 13, 10, "past the end ", 0
s_colon:     db ": ", 0
	times 4608 - ($ - $$) db 0
