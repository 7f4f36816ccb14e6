; The smallest end-to-end check: SeaBIOS boots this sector from the IDE disk, it says so on
; COM1 and exits through the test-exit port.
%include "sector.inc"
main:
	print msg
	mov al, dl		; SeaBIOS passes the boot drive in DL
	call put_hex8
	print crlf
	exit_with 0x10

msg: db "hello from the boot sector, drive ", 0
sector_end
