; bench/boot.sh's memory probe: SeaBIOS boots this sector, it says "idle" on COM1 and then
; halts with interrupts off, so the VMM sits still while the benchmark reads its
; /proc/PID/smaps. It never exits by itself; the benchmark kills the VMM.
; Build: nasm -f bin -i tests/guests/ bench/guests/idle.asm -o idle.img
%include "sector.inc"
main:
	print msg
.hang:	cli
	hlt
	jmp .hang

msg: db "pcvm-bench idle", 13, 10, 0
sector_end
