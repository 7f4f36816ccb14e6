; A TCP server on the guest's port 7, reached from the host through the NAT's port forwards:
; each connection may send lines; each line comes back as "echo: " and the line in upper case.
; The peer closes first (its FIN is answered with ours). The line "quit" is answered "bye",
; and the guest exits once that connection is closed. Every connection and line is reported
; on COM1, so the test sees what reached the guest.
%include "boot.inc"
%include "lib.inc"
%include "e1000.inc"
%include "net.inc"
%include "tcp.inc"

%define PORT		7
%define IDLE_LIMIT	120	; seconds without a connection: give up
%define STEP_LIMIT	10	; seconds a connection may stay silent

main:
	call nat_up		; 10.0.2.15, the NAT's default forwarding target; the gateway
				; learns our MAC from the ARP request
	mov word [tcp_lport], PORT
	print msg_listening
.listen:
	mov byte [tcp_any], 1
	mov eax, IDLE_LIMIT
	call tcp_wait
	jc .idle
	mov al, [seg_flags]
	and al, TCP_SYN | TCP_ACK | TCP_RST
	cmp al, TCP_SYN
	jne .listen		; only a SYN opens a connection (anything else is stale)
	call accept
	call serve
	cmp byte [quit], 0
	je .listen
	print msg_done
	exit_with 0x10
.idle:	print msg_idle
	exit_with 0x01

; accept: answers the SYN in seg_* with SYN-ACK (SYN-RECEIVED)
accept:
	call tcp_peer_from_segment
	mov byte [tcp_any], 0
	inc word [connections]
	mov eax, [seg_seq]
	inc eax
	mov [tcp_rcv_nxt], eax
	movzx eax, word [connections]	; our initial sequence number: any value
	shl eax, 24
	or eax, 0x00ABC000
	mov [tcp_snd_nxt], eax
	mov word [tcp_line_len], 0
	mov byte [fin_sent], 0
	print msg_conn
	movzx eax, word [connections]
	call put_dec
	print msg_from
	mov si, tcp_rip
	call put_ip
	print crlf
	mov al, TCP_SYN | TCP_ACK
	xor cx, cx
	jmp tcp_send

; serve: the connection from SYN-RECEIVED to closed (our FIN acknowledged, or a reset)
serve:
	mov eax, STEP_LIMIT
	call tcp_wait
	jc .timeout
	test byte [seg_flags], TCP_RST
	jnz .reset
	test byte [seg_flags], TCP_SYN
	jnz .syn_again
	test byte [seg_flags], TCP_ACK
	jz serve		; every segment after the SYN carries ACK
	cmp byte [fin_sent], 0
	je .data
	mov eax, [seg_ack]	; LAST-ACK: our FIN acknowledged?
	cmp eax, [tcp_snd_nxt]
	je .closed
.data:	cmp word [seg_len], 0
	jne .take
	test byte [seg_flags], TCP_FIN
	jz serve		; a bare ACK
.take:	call tcp_take_data
	jc .dup
	call answer_lines
	test byte [seg_flags], TCP_FIN
	jz serve
	cmp byte [fin_sent], 0
	jne serve
	mov byte [fin_sent], 1	; the peer closed: so do we (CLOSE-WAIT -> LAST-ACK)
	mov al, TCP_FIN | TCP_ACK
	xor cx, cx
	call tcp_send
	jmp serve
.dup:	call tcp_ack		; out of order or a retransmission: say what we have
	jmp serve
.syn_again:			; our SYN-ACK was lost or is late: send it again
	mov eax, [seg_seq]
	inc eax
	cmp eax, [tcp_rcv_nxt]
	jne serve
	dec dword [tcp_snd_nxt]
	mov al, TCP_SYN | TCP_ACK
	xor cx, cx
	call tcp_send
	jmp serve
.closed:
	print msg_conn
	movzx eax, word [connections]
	call put_dec
	print msg_closed
	ret
.reset:	print msg_conn
	movzx eax, word [connections]
	call put_dec
	print msg_reset
	ret
.timeout:
	print msg_conn
	movzx eax, word [connections]
	call put_dec
	print msg_timeout
	ret

; answer_lines: every whole line in tcp_line is printed and answered; the data is acknowledged
; (with the answer, or alone)
answer_lines:
	mov byte [answered], 0
.line:	call tcp_line_end
	jc .rest
	mov [line_len], cx
	print msg_conn
	movzx eax, word [connections]
	call put_dec
	print msg_got
	mov si, tcp_line
	mov cx, [line_len]
.show:	jcxz .shown
	lodsb
	call putc
	dec cx
	jmp .show
.shown:	print msg_quote_end
	call make_answer
	mov al, TCP_PSH | TCP_ACK
	mov si, answer
	call tcp_send
	mov byte [answered], 1
	mov si, tcp_line	; drop the line and its newline
	add si, [line_len]
	inc si
	mov cx, [tcp_line_len]
	sub cx, [line_len]
	dec cx
	mov [tcp_line_len], cx
	mov di, tcp_line
	rep movsb
	jmp .line
.rest:	cmp byte [answered], 0
	jne .ret
	call tcp_ack
.ret:	ret

; make_answer: answer (CX bytes) = "bye\n" for "quit", else "echo: LINE\n" in upper case
make_answer:
	mov cx, [line_len]
	cmp cx, 4
	jne .echo
	cmp dword [tcp_line], 'quit'
	jne .echo
	mov byte [quit], 1
	mov si, bye
	mov di, answer
	mov cx, bye_len
	push cx
	rep movsb
	pop cx
	ret
.echo:	mov si, echo_prefix
	mov di, answer
	mov cx, echo_prefix_len
	rep movsb
	mov si, tcp_line
	mov cx, [line_len]
.upper:	jcxz .end
	lodsb
	cmp al, 'a'
	jb .keep
	cmp al, 'z'
	ja .keep
	sub al, 'a' - 'A'
.keep:	stosb
	dec cx
	jmp .upper
.end:	mov al, 10
	stosb
	mov cx, di
	sub cx, answer
	ret

connections:	dw 0
quit:		db 0
fin_sent:	db 0
answered:	db 0
line_len:	dw 0
echo_prefix:	db "echo: "
echo_prefix_len	equ $ - echo_prefix
bye:		db "bye", 10
bye_len		equ $ - bye
answer:		times TCP_LINE_MAX + 8 db 0

msg_listening:	db "tcp: listening on port 7 at 10.0.2.15", 13, 10, 0
msg_idle:	db "tcp: no connection for 120 s", 13, 10, 0
msg_conn:	db "tcp: connection ", 0
msg_from:	db " from ", 0
msg_got:	db ": '", 0
msg_quote_end:	db "'", 13, 10, 0
msg_closed:	db " closed", 13, 10, 0
msg_reset:	db " reset by the peer", 13, 10, 0
msg_timeout:	db " silent for 10 s, dropped", 13, 10, 0
msg_done:	db "tcp: quit", 13, 10, 0
guest_end:
