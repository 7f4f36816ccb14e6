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
%include "ping.inc"

main:
	call nat_up
	call arp_report
	mov eax, [arp_ip]
	mov [ping_ip], eax
.ping:	inc word [seq]
	call send_echo
	jc fail
	call wait_reply
	jc .no_reply
	cmp word [seq], PINGS
	jb .ping
	print msg_done
	exit_with 0x10
.no_reply:
	print msg_no_reply
	mov ax, [seq]
	call put_hex16
	print crlf
fail:	exit_with 0x01

msg_no_reply:	db "ping: no reply within 2 s to sequence ", 0
msg_done:	db "ping: 3 replies from the gateway", 13, 10, 0
guest_end:
