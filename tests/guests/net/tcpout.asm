; A TCP connection out of the guest: to 10.0.2.2:SERVER_PORT, which the NAT maps to the host's
; 127.0.0.1:SERVER_PORT, where the test runs a server. The guest sends one line, prints the
; line the server sends back, then closes first (FIN-WAIT-1/2, TIME-WAIT) and waits for the
; server's FIN.
; Build: nasm -f bin -i tests/guests/net/ -i tests/guests/ -DSERVER_PORT=N tcpout.asm
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"
%include "tcp.inc"

%ifndef SERVER_PORT
%error "SERVER_PORT must be defined (-DSERVER_PORT=N): the host's server port"
%endif
%define LOCAL_PORT	49170
%define ISS		0x5043564D	; our initial sequence number: any value
%define STEP_LIMIT	10		; seconds to wait for each answer

main:
	call nat_up		; 10.0.2.2 is the host, through the NAT
	mov eax, [arp_ip]
	mov [tcp_rip], eax
	mov eax, [arp_mac]
	mov [tcp_mac], eax
	mov ax, [arp_mac + 4]
	mov [tcp_mac + 4], ax
	mov word [tcp_rport], SERVER_PORT
	mov word [tcp_lport], LOCAL_PORT
	call connect
	jc fail
	mov si, hello		; one line out
	mov cx, hello_len
	mov al, TCP_PSH | TCP_ACK
	call tcp_send
	call read_line
	jc fail
	call close
	jc fail
	print msg_closed
	exit_with 0x10
fail:	exit_with 0x01

; connect: SYN, then the server's SYN-ACK acknowledging it, then our ACK (ESTABLISHED)
connect:
	mov dword [tcp_snd_nxt], ISS
	mov al, TCP_SYN
	xor cx, cx
	call tcp_send
.wait:	mov eax, STEP_LIMIT
	call tcp_wait
	jc .timeout
	mov al, [seg_flags]
	test al, TCP_RST
	jnz .refused
	and al, TCP_SYN | TCP_ACK
	cmp al, TCP_SYN | TCP_ACK
	jne .wait
	mov eax, [seg_ack]
	cmp eax, [tcp_snd_nxt]
	jne .wait
	mov eax, [seg_seq]
	inc eax
	mov [tcp_rcv_nxt], eax
	call tcp_ack
	print msg_connected
	clc
	ret
.refused:
	mov si, msg_refused
	jmp failed
.timeout:
	mov si, msg_no_synack
	jmp failed

; read_line: data from the server, acknowledged segment by segment, until a whole line; the
; line is printed
read_line:
	mov word [tcp_line_len], 0
.wait:	mov eax, STEP_LIMIT
	call tcp_wait
	jc .timeout
	test byte [seg_flags], TCP_RST
	jnz .reset
	cmp word [seg_len], 0
	je .wait
	call tcp_take_data
	call tcp_ack		; in order or not, say what we have
	call tcp_line_end
	jc .wait
	print msg_server
	mov si, tcp_line
.show:	jcxz .shown
	lodsb
	call putc
	dec cx
	jmp .show
.shown:	print msg_quote_end
	clc
	ret
.reset:	mov si, msg_reset
	jmp failed
.timeout:
	mov si, msg_no_line
	jmp failed

; close: our FIN; then the server's acknowledgement of it and the server's own FIN, in one
; segment or two, in either order; the FIN is acknowledged
close:
	mov al, TCP_FIN | TCP_ACK
	xor cx, cx
	call tcp_send
	mov byte [fin_acked], 0
	mov byte [fin_seen], 0
.wait:	mov eax, STEP_LIMIT
	call tcp_wait
	jc .timeout
	test byte [seg_flags], TCP_RST
	jnz .reset
	mov eax, [seg_ack]
	cmp eax, [tcp_snd_nxt]
	jne .fin
	mov byte [fin_acked], 1
.fin:	test byte [seg_flags], TCP_FIN
	jz .done
	call tcp_take_data	; RCV.NXT past the FIN (and any late data)
	jc .ack
	mov byte [fin_seen], 1
.ack:	call tcp_ack
.done:	mov al, [fin_acked]
	and al, [fin_seen]
	jz .wait
	clc
	ret
.reset:	mov si, msg_reset
	jmp failed
.timeout:
	mov si, msg_no_fin
	jmp failed

; failed: SI = why, printed; CF set (how connect, read_line and close return a failure)
failed:
	call puts
	stc
	ret

fin_acked:	db 0
fin_seen:	db 0
hello:		db "hello from the guest", 10
hello_len	equ $ - hello

msg_connected:	db "tcp: connected to the host's server through 10.0.2.2", 13, 10, 0
msg_refused:	db "tcp: connection refused (RST)", 13, 10, 0
msg_no_synack:	db "tcp: no SYN-ACK within 10 s", 13, 10, 0
msg_server:	db "tcp: the server says '", 0
msg_quote_end:	db "'", 13, 10, 0
msg_reset:	db "tcp: reset by the server", 13, 10, 0
msg_no_line:	db "tcp: no line from the server within 10 s", 13, 10, 0
msg_no_fin:	db "tcp: the server did not close within 10 s", 13, 10, 0
msg_closed:	db "tcp: closed", 13, 10, 0
guest_end:
