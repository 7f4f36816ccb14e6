; A network boot's first steps through the NAT: DHCP (dhcpc.inc), then the boot file the ACK
; names (option 67, else the BOOTP `file` field) fetched by TFTP (RFC 1350, octet mode) from the
; next server (siaddr; the DHCP server if siaddr is 0). The request goes to port 69; the server's
; first DATA names its transfer ID (its port), and every block is acknowledged there: 512 bytes
; a block, the last one shorter. The guest prints the file's size, its CRC-32 (IEEE 802.3, as
; zlib's crc32) and its first line; then it asks for a file that does not exist and prints the
; ERROR packet it gets. Nothing of the file is kept but the first line: the sum and size are
; taken block by block.
;   dhcp: boot file 'boot.bin' (BOOTP file field), next server 10.0.2.2
;   tftp: RRQ 'boot.bin' to 10.0.2.2 port 69
;   tftp: 7 blocks from port 69, 3333 bytes, CRC-32 0F14D9D2
;   tftp: first line 'pcvm network boot test file, 3333 bytes'
;   tftp: RRQ 'pcvm-no-such-file' to 10.0.2.2 port 69
;   tftp: ERROR 1 'File not found'
; With -DROM_BANNER it first prints the iPXE banner the NIC's option ROM left on the screen.
; Build: nasm -f bin -i tests/guests/net/ -i tests/guests/ [-DROM_BANNER] tftp.asm
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"
%include "dhcpc.inc"

%define TFTP_PORT	69
%define TFTP_RRQ	1
%define TFTP_DATA	3
%define TFTP_ACK	4
%define TFTP_ERROR	5
%define TFTP_BLOCK	512
%define TFTP_TRIES	4		; sends of each request or acknowledgement
%define TFTP_WAIT	2		; seconds for an answer to each
%define TFTP_PAYLOAD	(TXBUF + L4 + 8)
%define BOOT_PORT	49200		; our transfer IDs: one port for each transfer
%define MISSING_PORT	49201
%define NAME_MAX	127		; DHCP's file field holds 128 bytes with the NUL
%define LINE_MAX	72		; a longer first line is cut
%define CRC32_POLY	0xEDB88320	; the reflected IEEE 802.3 polynomial
%define GOT_FILE	0		; tftp_get's outcomes
%define GOT_ERROR	1
%define GOT_NOTHING	2

main:
%ifdef ROM_BANNER
	call rom_banner
%endif
	call e1000_init
	jc fail
	call dhcp_lease
	jc fail
	call boot_params
	jc fail
	mov eax, [tftp_server]
	mov [arp_ip], eax
	call arp_resolve
	jc .no_arp
	mov si, boot_file
	mov word [udp_sport], BOOT_PORT
	call tftp_get
	cmp al, GOT_FILE
	jne fail
	call tftp_report
	mov si, missing_file
	mov word [udp_sport], MISSING_PORT
	call tftp_get
	cmp al, GOT_ERROR
	jne .no_error
	exit_with 0x10
.no_arp:
	print msg_no_arp
	jmp fail
.no_error:
	print msg_no_error
fail:	exit_with 0x01

; boot_params: the boot file name and the next server from the ACK dhcp_lease left in RXFRAME
; (at [dhcpc_reply]); printed. CF if no boot file was offered.
boot_params:
	mov al, 67		; the bootfile-name option (RFC 2132 9.5)
	call dhcpc_option
	mov bx, msg_option67
	jnc .copy
	mov si, [dhcpc_reply]	; the BOOTP file field (RFC 951): 128 bytes, NUL-terminated
	add si, 108
	mov cx, NAME_MAX
	mov bx, msg_file_field
.copy:	cmp cx, NAME_MAX
	jbe .len
	mov cx, NAME_MAX
.len:	mov di, boot_file
.char:	jcxz .end
	lodsb
	test al, al
	jz .end
	stosb
	dec cx
	jmp .char
.end:	mov byte [di], 0
	cmp di, boot_file
	je .none
	mov si, [dhcpc_reply]
	mov eax, [si + 20]	; siaddr: the next server
	test eax, eax
	jnz .server
	mov eax, [dhcpc_server]
.server:
	mov [tftp_server], eax
	print msg_boot_file
	print boot_file
	mov si, bx
	call puts
	mov si, tftp_server
	call put_ip
	print crlf
	clc
	ret
.none:	print msg_no_boot_file
	stc
	ret

; tftp_get: reads the file named at SI from [tftp_server] through the port [udp_sport].
; AL = GOT_FILE (the size, sum and first line are in tftp_size, tftp_crc, first_line),
; GOT_ERROR (the server's ERROR was printed) or GOT_NOTHING (why was printed).
tftp_get:
	mov [tftp_name], si
	mov dword [tftp_size], 0
	mov dword [tftp_crc], 0xFFFFFFFF
	mov word [tftp_block], 1	; the block we wait for
	mov word [tftp_tid], 0		; the server's port: not known yet
	mov word [first_line_len], 0
	mov byte [first_line_done], 0
	mov eax, [tftp_server]
	mov [ip_dst], eax
	print msg_rrq
	mov si, [tftp_name]
	call puts
	print msg_to
	mov si, tftp_server
	call put_ip
	print msg_port
	mov eax, TFTP_PORT
	call put_dec
	print crlf
.send:	mov byte [tftp_tries], TFTP_TRIES
.again:	call tftp_send
	jc .lost
	call tftp_wait
	jnc .got
	dec byte [tftp_tries]
	jnz .again
	print msg_timeout
.lost:	mov al, GOT_NOTHING
	ret
.got:	cmp word [bx + 8], TFTP_ERROR << 8
	je tftp_error
	mov ax, [bx + 10]	; DATA: its block number
	xchg al, ah
	cmp ax, [tftp_block]
	jne .again		; a repeat of the last block: acknowledged again
	sub cx, 12
	cmp cx, TFTP_BLOCK
	ja .again
	push cx
	lea si, [bx + 12]
	call tftp_take
	inc word [tftp_block]
	pop cx
	cmp cx, TFTP_BLOCK
	je .send
	call tftp_send		; the last block's acknowledgement ends the transfer
	mov al, GOT_FILE
	ret

; tftp_error: the ERROR at BX (CX bytes of UDP): "tftp: ERROR 1 'File not found'"
tftp_error:
	print msg_error
	mov ax, [bx + 10]
	xchg al, ah
	movzx eax, ax
	call put_dec
	print msg_open_quote
	lea si, [bx + 12]
	sub cx, 12
	call put_text
	print msg_quote_end
	mov al, GOT_ERROR
	ret

; tftp_send: the RRQ while the server has not answered yet, else the acknowledgement of the
; block before [tftp_block], to the server's port
tftp_send:
	mov di, TFTP_PAYLOAD
	cmp word [tftp_tid], 0
	jne .ack
	mov ax, TFTP_RRQ << 8
	stosw
	mov si, [tftp_name]
.name:	lodsb
	stosb
	test al, al
	jnz .name
	mov si, tftp_mode
	mov cx, tftp_mode_len
	rep movsb
	mov word [udp_dport], TFTP_PORT
	jmp .send
.ack:	mov ax, TFTP_ACK << 8
	stosw
	mov ax, [tftp_block]
	dec ax
	xchg al, ah
	stosw
	mov ax, [tftp_tid]
	mov [udp_dport], ax
.send:	mov cx, di
	sub cx, TFTP_PAYLOAD
	mov di, arp_mac
	jmp udp_send

; tftp_wait: up to TFTP_WAIT s for a DATA or ERROR from the server to our port, from the
; server's port once it is known (a stray from another port is dropped: RFC 1350 section 4).
; BX = its UDP header in RXFRAME, CX = the UDP length; CF if none came.
tftp_wait:
	mov eax, TFTP_WAIT
	call net_deadline_set
.poll:	call net_poll
	jc .later
	cmp al, PROTO_UDP
	jne .later
	cmp cx, 12		; UDP header, opcode, block number or error code
	jb .later
	mov eax, [RXFRAME + IP_SRC]
	cmp eax, [tftp_server]
	jne .later
	mov ax, [bx + 2]
	xchg al, ah
	cmp ax, [udp_sport]
	jne .later
	mov ax, [bx]		; the server's port
	xchg al, ah
	cmp word [tftp_tid], 0
	je .first
	cmp ax, [tftp_tid]
	jne .later
.kind:	cmp word [bx + 8], TFTP_DATA << 8
	je .ret
	cmp word [bx + 8], TFTP_ERROR << 8
	je .ret
.later:	call net_deadline_passed
	jnc .poll
	ret
.first:	cmp word [bx + 8], TFTP_DATA << 8
	jne .kind		; an ERROR to the request opens no transfer
	mov [tftp_tid], ax
.ret:	clc
	ret

; tftp_take: CX bytes of the file at SI: counted, summed, and the first line kept
tftp_take:
	movzx ecx, cx
	add [tftp_size], ecx
	push si
	push cx
	call crc32_add
	pop cx
	pop si
	cmp byte [first_line_done], 0
	jne .ret
	mov di, first_line
	add di, [first_line_len]
.char:	jcxz .ret
	lodsb
	cmp al, 10
	je .done
	cmp al, 13
	je .done
	cmp word [first_line_len], LINE_MAX
	jae .done
	stosb
	inc word [first_line_len]
	dec cx
	jmp .char
.done:	mov byte [first_line_done], 1
.ret:	ret

; crc32_add: the CRC-32 in [tftp_crc] over CX more bytes at SI, bit by bit (least significant
; bit first, as the reflected polynomial wants)
crc32_add:
	mov edx, [tftp_crc]
.byte:	jcxz .done
	lodsb
	xor dl, al
	mov ah, 8
.bit:	shr edx, 1
	jnc .next
	xor edx, CRC32_POLY
.next:	dec ah
	jnz .bit
	dec cx
	jmp .byte
.done:	mov [tftp_crc], edx
	ret

; tftp_report: "tftp: 7 blocks from port 69, 3333 bytes, CRC-32 1A2B3C4D" and the first line
tftp_report:
	print msg_blocks
	movzx eax, word [tftp_block]
	dec eax
	call put_dec
	print msg_from_port
	movzx eax, word [tftp_tid]
	call put_dec
	print msg_comma
	mov eax, [tftp_size]
	call put_dec
	print msg_bytes
	mov eax, [tftp_crc]
	not eax
	push ax
	shr eax, 16
	call put_hex16
	pop ax
	call put_hex16
	print crlf
	print msg_first_line
	mov si, first_line
	mov cx, [first_line_len]
	call put_text
	print msg_quote_end
	ret

%ifdef ROM_BANNER
; rom_banner: with -DROM_BANNER, each row of the text screen the BIOS left (80x25 at B800:0)
; that begins with "iPXE" -- the banner the NIC's option ROM prints when it initialises,
; naming the card's PCI address -- as "rom: iPXE ...", trailing blanks left out
rom_banner:
	push es
	mov ax, 0xB800
	mov es, ax
	xor bx, bx		; the row's offset: 160 bytes (character, attribute) a row
.row:	mov eax, [es:bx]
	and eax, 0x00FF00FF	; the characters without their attributes
	cmp eax, 0x00500069	; 'i' 'P'
	jne .next
	mov eax, [es:bx + 4]
	and eax, 0x00FF00FF
	cmp eax, 0x00450058	; 'X' 'E'
	jne .next
	mov di, 158		; the last character that is not a blank
.trim:	cmp byte [es:bx + di], ' '
	jne .print
	sub di, 2
	jmp .trim
.print:	print msg_rom
	xor si, si
.char:	mov al, [es:bx + si]
	call putc
	add si, 2
	cmp si, di
	jbe .char
	print crlf
.next:	add bx, 160
	cmp bx, 160 * 25
	jb .row
	pop es
	ret

msg_rom:	db "rom: ", 0
%endif

; put_text: CX bytes at SI, up to a NUL; a byte that is not printable ASCII as '?'
put_text:
	jcxz .done
	lodsb
	test al, al
	jz .done
	cmp al, ' '
	jb .other
	cmp al, '~'
	jbe .put
.other:	mov al, '?'
.put:	call putc
	dec cx
	jmp put_text
.done:	ret

tftp_mode:	db "octet", 0
tftp_mode_len	equ $ - tftp_mode
missing_file:	db "pcvm-no-such-file", 0
tftp_server:	dd 0
tftp_name:	dw 0
tftp_tid:	dw 0
tftp_block:	dw 0
tftp_tries:	db 0
tftp_size:	dd 0
tftp_crc:	dd 0
first_line_len:	dw 0
first_line_done: db 0
first_line:	times LINE_MAX db 0
boot_file:	times NAME_MAX + 1 db 0

msg_boot_file:	db "dhcp: boot file '", 0
msg_option67:	db "' (option 67), next server ", 0
msg_file_field:	db "' (BOOTP file field), next server ", 0
msg_no_boot_file: db "dhcp: no boot file offered (neither option 67 nor the file field)", 13, 10, 0
msg_no_arp:	db "arp: no reply from the next server", 13, 10, 0
msg_rrq:	db "tftp: RRQ '", 0
msg_to:		db "' to ", 0
msg_port:	db " port ", 0
msg_timeout:	db "tftp: no answer after 4 sends", 13, 10, 0
msg_error:	db "tftp: ERROR ", 0
msg_open_quote:	db " '", 0
msg_quote_end:	db "'", 13, 10, 0
msg_blocks:	db "tftp: ", 0
msg_from_port:	db " blocks from port ", 0
msg_comma:	db ", ", 0
msg_bytes:	db " bytes, CRC-32 ", 0
msg_first_line:	db "tftp: first line '", 0
msg_no_error:	db "tftp: no ERROR for a file that does not exist", 13, 10, 0
guest_end:
