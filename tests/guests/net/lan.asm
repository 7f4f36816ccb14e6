; A guest on a LAN of its own (host-only and bridged networks, tests/integration/netns.py):
; takes an address, by DHCP (dhcpc.inc) or the static one of its parameter block; pings each
; address the block lists (ARP, then echo requests) and prints the replies; then answers ARP
; and echo requests (net.inc does that while polling) until a UDP datagram "quit" reaches its
; port 7000 (exit 0x10). The datagram "again" makes it ping the same addresses once more with
; the MACs that ARP gave the first time, as a guest's ARP cache would, before serving again.
;
; The parameter block is sector 1, which the test writes (boot.inc loads it with the rest, to
; 7E00). Numbers little-endian, addresses in network order:
;    0  "PCVMLAN1"
;    8  flags: bit 0 = take an address by DHCP, else the static one at 12
;   10  seconds to wait for a command (again for each)
;   12  the static address, 16 its netmask
;   20  how many addresses to ping (0-4), 21 echo requests to each (1-9)
;   24  the addresses to ping, 4 bytes each
%include "boot.inc"

params:
p_magic:	times 8 db 0
p_flags:	dw 0
p_limit:	dw 0
p_ip:		dd 0
p_mask:		dd 0
p_count:	db 0
p_pings:	db 0
		dw 0
p_targets:	times 4 dd 0
		times 512 - ($ - params) db 0

%include "lib.inc"
%include "e1000.inc"
%include "net.inc"
%include "dhcpc.inc"

%define LAN_DHCP	1
%define LAN_PORT	7000
%define MAX_TARGETS	4
%define PING_DATA	56
%define PING_ID		0x6E6C		; any value: the replies must carry it
%include "ping.inc"

main:
	call e1000_init
	jc fail
	call params_check
	jc fail
	test word [p_flags], LAN_DHCP
	jz .static
	call dhcp_lease
	jc fail
	jmp .pings
.static:
	mov eax, [p_ip]
	mov [our_ip], eax
	print msg_static
	mov si, our_ip
	call put_ip
	print msg_mask
	mov si, p_mask
	call put_ip
	print crlf
.pings:	mov byte [resolving], 1
	call ping_all
	jmp serve

fail:	exit_with 0x01

; params_check: CF (and a message) unless sector 1 holds a parameter block in bounds
params_check:
	cmp dword [p_magic], 'PCVM'
	jne .bad
	cmp dword [p_magic + 4], 'LAN1'
	jne .bad
	cmp byte [p_count], MAX_TARGETS
	ja .bad
	mov al, [p_pings]
	dec al
	cmp al, 9
	jae .bad
	clc
	ret
.bad:	print msg_no_params
	stc
	ret

; serve: answers ARP and echo requests, waiting for a command on UDP port LAN_PORT
serve:
	print msg_serving
	mov si, our_ip
	call put_ip
	print crlf
	movzx eax, word [p_limit]
	call net_deadline_set
.poll:	call net_poll
	jc .later
	cmp al, PROTO_UDP
	jne .later
	cmp word [bx + 2], (LAN_PORT >> 8) | ((LAN_PORT & 0xFF) << 8)
	jne .later
	sub cx, 8
	cmp cx, 4
	jb .later
	cmp dword [bx + 8], 'quit'
	je .quit
	cmp cx, 5
	jb .later
	cmp dword [bx + 8], 'agai'
	jne .later
	cmp byte [bx + 12], 'n'
	jne .later
	print msg_again
	call print_source
	mov byte [resolving], 0
	call ping_all
	jmp serve
.later:	call net_deadline_passed
	jnc .poll
	print msg_no_command
	movzx eax, word [p_limit]
	call put_dec
	print msg_seconds
	jmp fail
.quit:	print msg_quit
	call print_source
	exit_with 0x10

; print_source: the received datagram's source address, then the line's end
print_source:
	mov si, RXFRAME + IP_SRC
	call put_ip
	print crlf
	ret

; ping_all: pings every address of the block in turn; with [resolving] set their MACs are
; asked for with ARP (and kept), else the kept ones are used
ping_all:
	mov byte [target], 0
.next:	movzx bx, byte [target]
	cmp bl, [p_count]
	jae .done
	shl bx, 2
	mov eax, [p_targets + bx]
	mov [arp_ip], eax
	mov [ping_ip], eax
	call target_mac
	cmp byte [resolving], 0
	je .cached
	call arp_resolve
	jc .no_arp
	call target_mac
	mov si, arp_mac
	mov cx, 6
	rep movsb
	movzx bx, byte [target]
	mov byte [target_valid + bx], 1
	call arp_report
	jmp .ping
.cached:
	movzx bx, byte [target]
	cmp byte [target_valid + bx], 0
	je .skip
	mov si, di
	mov di, arp_mac
	mov cx, 6
	rep movsb
.ping:	call ping_target
.skip:	inc byte [target]
	jmp .next
.no_arp:
	print msg_no_arp
	mov si, arp_ip
	call put_ip
	print crlf
	jmp .skip
.done:	ret

; target_mac: DI = where the MAC of address [target] is kept
target_mac:
	movzx ax, byte [target]
	mov di, 6
	mul di
	add ax, target_macs
	mov di, ax
	ret

; ping_target: [p_pings] echo requests to [ping_ip] through arp_mac, one after the other;
; prints each reply and the count
ping_target:
	mov byte [replies], 0
	mov byte [sent], 0
.one:	inc word [seq]
	inc byte [sent]
	call send_echo
	jc .count
	call wait_reply
	jc .lost
	inc byte [replies]
	jmp .again
.lost:	print msg_lost
	mov si, ping_ip
	call put_ip
	print msg_lost_seq
	movzx eax, word [seq]
	call put_dec
	print crlf
.again:	mov al, [sent]
	cmp al, [p_pings]
	jb .one
.count:	print msg_ping
	movzx eax, byte [replies]
	call put_dec
	print msg_of
	movzx eax, byte [sent]
	call put_dec
	print msg_replies_from
	mov si, ping_ip
	call put_ip
	print crlf
	ret

resolving:	db 0
target:		db 0
target_valid:	times MAX_TARGETS db 0
target_macs:	times MAX_TARGETS * 6 db 0
sent:		db 0
replies:	db 0

msg_no_params:	db "lan: no parameter block in sector 1", 13, 10, 0
msg_static:	db "lan: static address ", 0
msg_mask:	db ", mask ", 0
msg_serving:	db "lan: serving at ", 0
msg_again:	db "lan: again from ", 0
msg_quit:	db "lan: quit from ", 0
msg_no_command:	db "lan: no command within ", 0
msg_seconds:	db " s", 13, 10, 0
msg_no_arp:	db "arp: no reply from ", 0
msg_lost:	db "ping: no reply from ", 0
msg_lost_seq:	db " to icmp_seq=", 0
msg_ping:	db "ping: ", 0
msg_of:		db " of ", 0
msg_replies_from: db " replies from ", 0
guest_end:
