; DHCP (RFC 2131, options RFC 2132) through the NAT: DISCOVER from 0.0.0.0 to the broadcast
; address, the OFFER's address, server, mask, router, DNS server and lease printed; then
; REQUEST for the offered address (naming the server) and the ACK, whose options are printed
; again.
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"

%define BOOTP		(TXBUF + L4 + 8)	; where the message is built
%define BOOTP_SIZE	300			; the minimum BOOTP message (RFC 951)
%define DHCPDISCOVER	1
%define DHCPOFFER	2
%define DHCPREQUEST	3
%define DHCPACK		5
%define XID		0x4E43564D		; any value: the replies must carry it

main:
	call e1000_init
	jc fail
	mov al, DHCPDISCOVER
	call dhcp_send
	jc fail
	mov al, DHCPOFFER
	call dhcp_wait
	jc .no_offer
	mov eax, [bx + 16]	; yiaddr
	mov [offered], eax
	mov al, 54
	call dhcp_option
	jc .no_server
	mov eax, [si]
	mov [server], eax
	print msg_offer
	mov si, offered
	call put_ip
	print msg_from
	mov si, server
	call put_ip
	print crlf
	call print_options
	jc fail
	mov al, DHCPREQUEST
	call dhcp_send
	jc fail
	mov al, DHCPACK
	call dhcp_wait
	jc .no_ack
	mov eax, [bx + 16]
	cmp eax, [offered]
	jne .other_address
	mov [our_ip], eax
	print msg_ack
	mov si, our_ip
	call put_ip
	print crlf
	call print_options
	jc fail
	exit_with 0x10
.no_offer:
	print msg_no_offer
	jmp fail
.no_ack:
	print msg_no_ack
	jmp fail
.no_server:
	print msg_no_server
	jmp fail
.other_address:
	print msg_other
fail:	exit_with 0x01

; dhcp_send: a DHCP message of type AL from 0.0.0.0:68 to 255.255.255.255:67; a REQUEST
; names the offered address (option 50) and the server (option 54)
dhcp_send:
	mov [msg_type], al
	mov di, BOOTP
	mov cx, BOOTP_SIZE
	push ax
	xor al, al
	rep stosb
	pop ax
	mov dword [BOOTP], 0x00060101	; op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
	mov dword [BOOTP + 4], XID
	mov word [BOOTP + 10], 0x0080	; flags: broadcast
	mov eax, [our_mac]		; chaddr
	mov [BOOTP + 28], eax
	mov ax, [our_mac + 4]
	mov [BOOTP + 32], ax
	mov dword [BOOTP + 236], 0x63538263	; the magic cookie 63 82 53 63
	mov di, BOOTP + 240
	mov ax, 0x0135			; option 53, length 1
	stosw
	mov al, [msg_type]
	stosb
	mov si, params			; option 55: mask, router, DNS, lease time
	mov cx, params_len
	rep movsb
	cmp byte [msg_type], DHCPREQUEST
	jne .end
	mov ax, 0x0432			; option 50: the requested address
	stosw
	mov eax, [offered]
	stosd
	mov ax, 0x0436			; option 54: the server
	stosw
	mov eax, [server]
	stosd
.end:	mov al, 255
	stosb
	mov dword [ip_dst], 0xFFFFFFFF
	mov word [udp_sport], 68
	mov word [udp_dport], 67
	mov cx, BOOTP_SIZE
	mov di, broadcast_mac
	jmp udp_send

; dhcp_wait: up to 5 s for a BOOTREPLY to us (our xid and chaddr), 67 -> 68, of DHCP type
; AL. BX = the message in RXFRAME, CX = its length; CF if none came.
dhcp_wait:
	mov [msg_type], al
	mov eax, 5
	call net_deadline_set
.poll:	call net_poll
	jc .later
	cmp al, PROTO_UDP
	jne .later
	cmp dword [bx], 0x44004300	; source port 67, destination port 68
	jne .later
	add bx, 8
	sub cx, 8
	cmp cx, 240
	jb .later
	cmp byte [bx], 2		; BOOTREPLY
	jne .later
	cmp dword [bx + 4], XID
	jne .later
	mov eax, [bx + 28]
	cmp eax, [our_mac]
	jne .later
	cmp dword [bx + 236], 0x63538263
	jne .later
	mov [reply], bx
	mov [reply_len], cx
	mov al, 53
	call dhcp_option
	jc .later
	mov al, [si]
	cmp al, [msg_type]
	jne .later
	mov bx, [reply]
	mov cx, [reply_len]
	clc
	ret
.later:	call net_deadline_passed
	jnc .poll
	ret

; dhcp_option: AL = option code -> SI = its value, CL = its length, in the reply at [reply];
; CF if the reply does not carry it
dhcp_option:
	mov si, [reply]
	mov dx, si
	add dx, [reply_len]		; end of the message
	add si, 240
.next:	cmp si, dx
	jae .absent
	mov ah, [si]
	cmp ah, 255
	je .absent
	cmp ah, 0			; pad
	jne .sized
	inc si
	jmp .next
.sized:	mov cl, [si + 1]
	add si, 2
	cmp ah, al
	je .found
	movzx cx, cl
	add si, cx
	jmp .next
.found:	movzx cx, cl
	add cx, si
	cmp cx, dx
	ja .absent
	mov cl, [si - 1]
	clc
	ret
.absent:
	stc
	ret

; print_options: "dhcp:   mask 255.255.255.0, router 10.0.2.2, dns 10.0.2.3, lease 86400 s"
print_options:
	print msg_mask
	mov al, 1
	call ip_option
	jc .absent
	print msg_router
	mov al, 3
	call ip_option
	jc .absent
	print msg_dns
	mov al, 6
	call ip_option
	jc .absent
	print msg_lease
	mov al, 51
	call dhcp_option
	jc .absent
	cmp cl, 4
	jne .absent
	mov eax, [si]
	bswap eax
	call put_dec
	print msg_seconds
	clc
	ret
.absent:
	print msg_absent
	stc
	ret

; ip_option: prints the first address of option AL; CF if absent or shorter than 4 bytes
ip_option:
	call dhcp_option
	jc .ret
	cmp cl, 4
	jb .short
	call put_ip
	clc
.ret:	ret
.short:	stc
	ret

params:		db 55, 4, 1, 3, 6, 51
params_len	equ $ - params
msg_type:	db 0
offered:	dd 0
server:		dd 0
reply:		dw 0
reply_len:	dw 0

msg_offer:	db "dhcp: offer of ", 0
msg_from:	db " from server ", 0
msg_ack:	db "dhcp: ack, bound to ", 0
msg_mask:	db "dhcp:   mask ", 0
msg_router:	db ", router ", 0
msg_dns:	db ", dns ", 0
msg_lease:	db ", lease ", 0
msg_seconds:	db " s", 13, 10, 0
msg_absent:	db " (missing)", 13, 10, 0
msg_no_offer:	db "dhcp: no offer within 5 s", 13, 10, 0
msg_no_ack:	db "dhcp: no ack within 5 s", 13, 10, 0
msg_no_server:	db "dhcp: the offer names no server (option 54)", 13, 10, 0
msg_other:	db "dhcp: the ack is for another address than the offer's", 13, 10, 0
guest_end:
