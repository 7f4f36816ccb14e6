; The system the installer (installer.asm) copies from the CD to the hard disk: a boot sector
; that loads 8 more sectors (stage1.inc) and checks that all nine arrived (the marker at the
; end of the ninth). It says whether the installer ran before it in this power cycle (the
; installer's CMOS counter, which this program clears) or the disk booted alone, as it does
; on the next power-on with the CD ejected; then it exits through the test-exit port.
%include "stage1.inc"

%define COUNTER 0x4B
%define MARKER "END OF THE INSTALLED SYSTEM"
%strlen MARKER_LEN MARKER

main:
	print banner
	mov al, [boot_drive]
	call put_hex8
	print crlf
	mov si, marker		; the last bytes of sector 9
	mov di, expect
	mov cx, MARKER_LEN
	repe cmpsb
	jne incomplete
	print complete
	mov al, COUNTER
	call cmos_read
	test al, al
	jz .alone
	mov ax, COUNTER		; leave CMOS as we found it
	call cmos_write
	print after_installer
	exit_with 0x10
.alone:	print alone
	exit_with 0x10
incomplete:
	print partial
	exit_with 0x01

banner:	db "installed system booted from drive ", 0
complete: db "all 9 sectors of the installed system are there", 13, 10, 0
after_installer: db "the installer ran before this boot, in the same power cycle", 13, 10, 0
alone:	db "no installer ran in this power cycle: the disk boots on its own", 13, 10, 0
partial: db "the installed system is incomplete", 13, 10, 0
expect:	db MARKER
	times 4608 - MARKER_LEN - ($ - $$) db 0
marker:	db MARKER
