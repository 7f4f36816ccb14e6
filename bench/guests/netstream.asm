; bench/net.sh's guest: streams UDP datagrams of PAYLOAD bytes from GUEST_IP to HOST_IP:PORT
; through the e1000 as fast as it can for SECONDS seconds of the RTC, then reports on COM1 how
; many frames the NIC said it sent, and exits with 0x10.
;
; The e1000 driver, ARP and the UDP/IPv4 headers are the test guests' (tests/guests/net/). One
; frame is built once (headers, checksums and a payload pattern) and every transmit descriptor
; points at it: the loop only hands descriptors to the NIC. It keeps a ring of 128 descriptors
; full: it takes back those the NIC marked done (DD), gives out the free ones and writes TDT
; once per round, so a round costs the VMM one register write whatever its size.
;
; Build: nasm -f bin -i tests/guests/net/ -i tests/guests/ -DGUEST_IP=10,0,2,15
;        -DHOST_IP=10,0,2,2 -DPORT=5555 -DSECONDS=5 -DPAYLOAD=1470 bench/guests/netstream.asm

%define TX_RING		0x0800		; 128 descriptors: 0800-0FFF (boot.inc's map)
%define E1000_NTX	128
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"

%ifndef PAYLOAD
%define PAYLOAD		1470		; a 1512-byte frame: a full 1500-byte IP MTU
%endif
%define FRAME_LEN	(42 + PAYLOAD)
%if FRAME_LEN > 1514
%error "PAYLOAD is larger than an untagged Ethernet frame holds (1472)"
%endif

main:
	call e1000_init
	jc fail
	mov eax, [guest_ip]
	mov [our_ip], eax
	mov eax, [host_ip]
	mov [arp_ip], eax
	mov [ip_dst], eax
	call arp_resolve
	jc .no_arp
	mov di, TXBUF + L4 + 8	; the payload: byte i = i * 5 + 1
	mov cx, PAYLOAD
	mov al, 1
.fill:	stosb
	add al, 5
	loop .fill
	mov word [udp_sport], PORT
	mov word [udp_dport], PORT
	mov cx, PAYLOAD
	mov di, arp_mac
	call udp_build		; the frame, headers and checksums, once
	call stream
	jc fail
	print msg_sent
	mov eax, [sent]
	call put_dec
	print msg_frames
	mov eax, FRAME_LEN
	call put_dec
	print msg_bytes
	exit_with 0x10
.no_arp:
	print msg_no_arp
fail:	exit_with 0x01

; stream: from the next RTC second change, SECONDS seconds of frames; then waits for the ring
; to drain. [sent] = frames the NIC reported done. CF if it does not drain within 2 s.
stream:
	mov di, TX_RING		; every descriptor points at the frame
	mov cx, E1000_NTX
.addr:	mov dword [di], TXBUF
	mov dword [di + 4], 0
	add di, 16
	loop .addr
	call clock_seconds_now	; start on a second boundary
	mov ebx, eax
.align:	call clock_seconds_now
	cmp eax, ebx
	je .align
	add eax, SECONDS
	mov [stop_at], eax
	print msg_start
	mov si, [tx_tail]	; SI: next to hand out; DI: next to take back (both as offsets)
	shl si, 4
	mov di, si
	mov ebx, [e1000_mmio]
.round:	call take_back
	call hand_out
	call clock_seconds_now
	cmp eax, [stop_at]
	jb .round
	mov eax, 2
	call deadline_set
.drain:	call take_back
	cmp di, si
	je .done
	call deadline_passed
	jnc .drain
	print msg_stuck
	stc
	ret
.done:	clc
	ret

; take_back: counts the descriptors from DI on that the NIC has finished
take_back:
.next:	cmp di, si
	je .ret
	test byte [TX_RING + di + TXD_STA], 1	; DD
	jz .ret
	inc dword [sent]
	add di, 16
	and di, E1000_NTX * 16 - 1
	jmp .next
.ret:	ret

; hand_out: gives the NIC every free descriptor (all but one: SI never catches up with DI)
; and writes TDT once
hand_out:
	mov dx, si
.next:	mov ax, si
	add ax, 16
	and ax, E1000_NTX * 16 - 1
	cmp ax, di
	je .tail
	mov dword [TX_RING + si + TXD_LEN], FRAME_LEN | (TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS) << 24
	mov dword [TX_RING + si + TXD_STA], 0
	mov si, ax
	jmp .next
.tail:	cmp si, dx
	je .ret
	movzx eax, si
	shr eax, 4
	mov [fs:ebx + E1000_TDT], eax
.ret:	ret

guest_ip:	db GUEST_IP
host_ip:	db HOST_IP
stop_at:	dd 0
sent:		dd 0

msg_no_arp:	db "stream: no ARP reply from the host", 13, 10, 0
msg_start:	db "stream: start", 13, 10, 0
msg_stuck:	db "stream: the NIC did not finish the ring within 2 s", 13, 10, 0
msg_sent:	db "stream: sent ", 0
msg_frames:	db " frames of ", 0
msg_bytes:	db " bytes", 13, 10, 0
guest_end:
