; ARP and ICMP echo through the NAT: the guest takes 10.0.2.15 (slirp's first DHCP address)
; without asking, resolves the gateway 10.0.2.2 with ARP and pings it three times; each reply
; must carry the request's identifier, sequence number and data.
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"

%define PINGS 3
%define PING_DATA 56
%define PING_ID 0x7063

main:
	call e1000_init
	jc fail
	mov dword [our_ip], 0x0F02000A	; 10.0.2.15
	mov dword [arp_ip], 0x0202000A	; 10.0.2.2
	call arp_resolve
	jc .no_arp
	print msg_arp
	mov si, arp_ip
	call put_ip
	print msg_is_at
	mov si, arp_mac
	call put_mac
	print crlf
	mov eax, [arp_ip]
	mov [ip_dst], eax
.ping:	inc word [seq]
	call send_echo
	jc fail
	call wait_reply
	jc .no_reply
	cmp word [seq], PINGS
	jb .ping
	print msg_done
	exit_with 0x10
.no_arp:
	print msg_no_arp
	jmp fail
.no_reply:
	print msg_no_reply
	mov ax, [seq]
	call put_hex16
	print crlf
fail:	exit_with 0x01

; send_echo: an echo request, identifier PING_ID, sequence [seq], data bytes i * 7 + seq
send_echo:
	mov word [TXBUF + L4], 8	; type 8, code 0
	mov word [TXBUF + L4 + 4], (PING_ID >> 8) | ((PING_ID & 0xFF) << 8)
	mov ax, [seq]
	xchg al, ah
	mov [TXBUF + L4 + 6], ax
	mov di, TXBUF + L4 + 8
	call echo_data
	mov cx, 8 + PING_DATA
	mov di, arp_mac
	mov al, PROTO_ICMP
	jmp ip_send

; echo_data: PING_DATA bytes at DI, byte i = i * 7 + [seq]
echo_data:
	mov cx, PING_DATA
	mov al, [seq]
.byte:	stosb
	add al, 7
	loop .byte
	ret

; wait_reply: up to 2 s for the echo reply to [seq]; prints it. CF if none came.
wait_reply:
	mov eax, 2
	call net_deadline_set
.poll:	call net_poll
	jc .later
	cmp al, PROTO_ICMP
	jne .later
	cmp cx, 8 + PING_DATA
	jne .later
	cmp word [bx], 0		; echo reply, code 0
	jne .later
	cmp word [bx + 4], (PING_ID >> 8) | ((PING_ID & 0xFF) << 8)
	jne .later
	mov ax, [bx + 6]
	xchg al, ah
	cmp ax, [seq]
	jne .later
	mov eax, [RXFRAME + IP_SRC]
	cmp eax, [ip_dst]
	jne .later
	mov [reply], bx
	mov di, expected
	call echo_data
	mov si, [reply]
	add si, 8
	mov di, expected
	mov cx, PING_DATA
	repe cmpsb
	jne .bad_data
	print msg_reply
	movzx eax, word [RXFRAME + IP_LEN]
	xchg al, ah
	sub ax, 20
	call put_dec
	print msg_from
	mov si, RXFRAME + IP_SRC
	call put_ip
	print msg_seq
	movzx eax, word [seq]
	call put_dec
	print msg_ttl
	movzx eax, byte [RXFRAME + IP_TTL]
	call put_dec
	print msg_data_ok
	clc
	ret
.later:	call net_deadline_passed
	jnc .poll
	ret
.bad_data:
	print msg_bad_data
	stc
	ret

seq:	dw 0
reply:	dw 0
expected: times PING_DATA db 0

msg_arp:	db "arp: ", 0
msg_is_at:	db " is at ", 0
msg_no_arp:	db "arp: no reply for 10.0.2.2", 13, 10, 0
msg_reply:	db "ping: ", 0
msg_from:	db " bytes from ", 0
msg_seq:	db ": icmp_seq=", 0
msg_ttl:	db " ttl=", 0
msg_data_ok:	db ", data ok", 13, 10, 0
msg_bad_data:	db "ping: the reply's data differs from the request's", 13, 10, 0
msg_no_reply:	db "ping: no reply within 2 s to sequence ", 0
msg_done:	db "ping: 3 replies from the gateway", 13, 10, 0
guest_end:
