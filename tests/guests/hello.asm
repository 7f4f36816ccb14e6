; The smallest end-to-end check: SeaBIOS boots this sector from the IDE disk, it says so on
; COM1 and exits through the test-exit port.
bits 16
org 0x7C00
	jmp 0:main
%include "lib.inc"
main:
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7C00
	cld
	print msg
	mov al, dl		; SeaBIOS passes the boot drive in DL
	call put_hex8
	print crlf
	exit_with 0x10

msg: db "hello from the boot sector, drive ", 0
times 510 - ($ - $$) db 0
dw 0xAA55
