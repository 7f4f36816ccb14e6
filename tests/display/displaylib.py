"""Helpers for pcvm's display tests: a small PNG reader, the VGA colours and font as a real card
shows them, a minimal RFB (VNC) client, and pcvm / QEMU machines that run one guest disk and
hand back a picture of its screen.

No packages beyond Python's standard library: PNGs are decoded with zlib and struct.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import read  # noqa: E402

SEABIOS_DIR = "/usr/share/seabios"


# ---- PNG ----------------------------------------------------------------------------------

class Image:
    """An RGB picture: WIDTH x HEIGHT, PIXELS a bytes of 3 * width * height."""

    def __init__(self, width, height, pixels):
        self.width, self.height, self.pixels = width, height, bytes(pixels)

    def px(self, x, y):
        i = (y * self.width + x) * 3
        return tuple(self.pixels[i:i + 3])

    @property
    def size(self):
        return (self.width, self.height)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """An 8-bit RGB or RGBA, non-interlaced PNG as an Image (alpha dropped)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"{path}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if hdr is None:
        raise ValueError(f"{path}: no IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"{path}: depth {depth}, colour type {ctype}, interlace {interlace}: "
                         "only 8-bit RGB/RGBA, non-interlaced")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise ValueError(f"{path}: {len(raw)} bytes of image data for {w}x{h}")
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif ftype != 0:
            raise ValueError(f"{path}: filter type {ftype} on line {y}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if bpp == 4:
        rgb = bytearray(w * h * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = out[0::4], out[1::4], out[2::4]
        out = rgb
    return Image(w, h, out)


def write_png(path, img):
    """IMG as an 8-bit RGB PNG (for looking at a failure)."""
    stride = img.width * 3
    raw = b"".join(b"\0" + img.pixels[y * stride:(y + 1) * stride] for y in range(img.height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", img.width,
                                                                  img.height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def compare(got, want, tolerance=0, limit=8, ignore=None, names=("", "expected")):
    """None if GOT matches WANT (every channel within TOLERANCE, pixels in the set IGNORE of
    pixel indexes y * width + x left out), else what differs (NAMES label the two)."""
    if got.size != want.size:
        return f"size {got.width}x{got.height}, expected {want.width}x{want.height}"
    if tolerance == 0 and got.pixels == want.pixels:
        return None
    ignore = ignore or ()
    a, b, w = got.pixels, want.pixels, got.width
    bad = []
    count = 0
    for i in range(0, len(a), 3):
        if a[i:i + 3] == b[i:i + 3] or i // 3 in ignore:
            continue
        if tolerance == 0 or max(abs(a[i + k] - b[i + k]) for k in range(3)) > tolerance:
            count += 1
            if len(bad) < limit:
                p = i // 3
                bad.append(f"({p % w},{p // w}): {names[0] + ' ' if names[0] else ''}"
                           f"{a[i:i + 3].hex()} {names[1]} {b[i:i + 3].hex()}")
    if not count:
        return None
    return f"{count} of {len(a) // 3} pixels differ (tolerance {tolerance}" + \
        (f", {len(ignore)} left out" if ignore else "") + "); first: " + \
        "; ".join(bad)


# ---- the VGA as a real card shows it -----------------------------------------------------

def dac8(v6):
    """A 6-bit DAC value in 8 bits, the low bit filling the two new ones (QEMU and pcvm)."""
    v6 &= 0x3F
    return (v6 << 2) | (v6 & 1) * 3


def ega_rgb6(i):
    """The 64-entry EGA palette the VGA BIOS loads into the DAC for 16-colour modes (rgbRGB)."""
    r = ((i >> 2) & 1) * 0x2A + ((i >> 5) & 1) * 0x15
    g = ((i >> 1) & 1) * 0x2A + ((i >> 4) & 1) * 0x15
    b = (i & 1) * 0x2A + ((i >> 3) & 1) * 0x15
    return r, g, b


# attribute controller palette registers of the BIOS's 16-colour modes (text and 12h)
EGA_ATTR = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07,
            0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F]


def colour16(c):
    """The RGB of 4-bit colour C in the BIOS's text and 16-colour graphics modes."""
    return bytes(dac8(v) for v in ega_rgb6(EGA_ATTR[c & 15]))


def vga_font16(rom=os.path.join(SEABIOS_DIR, "vgabios-stdvga.bin")):
    """The 8x16 font in the VGA BIOS (256 glyphs of 16 bytes), found by its 'A' and smiley."""
    with open(rom, "rb") as f:
        data = f.read()
    a = bytes.fromhex("000010386cc6c6fec6c6c6c600000000")  # 'A', 16 lines
    pos = data.find(a)
    while pos >= 0:
        base = pos - 0x41 * 16
        if base >= 0 and data[base:base + 16] == bytes(16) and \
                data[base + 16:base + 21] == bytes.fromhex("00007e81a5"):
            return data[base:base + 4096]
        pos = data.find(a, pos + 1)
    raise ValueError(f"no 8x16 font in {rom}")


# Code page 437 as pcvm's "text-screen" writes it: 0x00 a blank, 0x01-0x1F and 0x7F the glyphs
CP437_LOW = ("\u0020\u263A\u263B\u2665\u2666\u2663\u2660\u2022\u25D8\u25CB\u25D9\u2642\u2640"
             "\u266A\u266B\u263C\u25BA\u25C4\u2195\u203C\u00B6\u00A7\u25AC\u21A8\u2191\u2193"
             "\u2192\u2190\u221F\u2194\u25B2\u25BC")


def cp437(c):
    if c < 0x20:
        return CP437_LOW[c]
    if c == 0x7F:
        return "\u2302"
    return bytes([c]).decode("cp437")


def render_text(cells, font, cols=80, rows=25, blink=False, line_graphics=(0xC0, 0xDF)):
    """The 720x400 picture of an 80x25 text screen with 9-dot cells: CELLS[(row, col)] =
    (char, attr), blank cells (0x20, 0x07) elsewhere; bright backgrounds (blink off); line
    graphics characters (C0h-DFh on an IBM VGA) repeat their eighth dot in the ninth."""
    w, h = cols * 9, rows * 16
    out = bytearray(w * h * 3)
    glyph_cache = {}
    for r in range(rows):
        for c in range(cols):
            ch, attr = cells.get((r, c), (0x20, 0x07))
            key = (ch, attr)
            if key not in glyph_cache:
                fg, bg = colour16(attr & 15), colour16((attr >> 4) & (7 if blink else 15))
                lines = []
                for y in range(16):
                    bits = font[ch * 16 + y] << 1
                    if line_graphics[0] <= ch <= line_graphics[1]:
                        bits |= (bits >> 1) & 1
                    lines.append(b"".join(fg if bits >> (8 - x) & 1 else bg for x in range(9)))
                glyph_cache[key] = lines
            for y, line in enumerate(glyph_cache[key]):
                o = ((r * 16 + y) * w + c * 9) * 3
                out[o:o + 27] = line
    return Image(w, h, out)


# ---- DES, for VNC authentication (RFB 3.8 section 7.2.2) ----------------------------------

_PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11,
        3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53,
        45, 37, 29, 21, 13, 5, 28, 20, 12, 4]
_PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36,
        29, 32]
_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
_IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14,
       6, 64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11,
       3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7]
_FP = [_IP.index(i) + 1 for i in range(1, 65)]
_E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17,
      18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1]
_P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9,
      19, 13, 30, 6, 22, 11, 4, 25]
_S = [
    "e4d12fb83a6c5907 0f74e2d1a6cb9538 41e8d62bfc973a50 fc8249175b3ea06d",
    "f18e6b34972dc05a 3d47f28ec01a69b5 0e7ba4d158c6932f d8a13f42b67c05e9",
    "a09e63f51dc7b428 d709346a285ecbf1 d6498f30b12c5ae7 1ad069874fe3b52c",
    "7de3069a1285bc4f d8b56f03472c1ae9 a690cb7df13e5284 3f06a1d8945bc72e",
    "2c417ab6853fd0e9 eb2c47d150fa3986 421bad78f9c5630e b8c71e2d6f09a453",
    "c1af92680d34e75b af427c9561de0b38 9ef528c3704a1db6 432c95fabe17608d",
    "4b2ef08d3c975a61 d0b7491ae35c2f86 14bdc37eaf680592 6bd814a7950fe23c",
    "d2846fb1a93e50c7 1fd8a374c56b0e92 7b419ce206adf358 21e74a8dfc90356b",
]
_SBOX = [[[int(c, 16) for c in row] for row in box.split()] for box in _S]


def _permute(bits, table):
    return [bits[i - 1] for i in table]


def _bits(data):
    return [(b >> (7 - i)) & 1 for b in data for i in range(8)]


def des_encrypt(key, block):
    """DES-ECB of one 8-byte BLOCK under the 8-byte KEY."""
    k = _permute(_bits(key), _PC1)
    c, d = k[:28], k[28:]
    subkeys = []
    for s in _SHIFTS:
        c, d = c[s:] + c[:s], d[s:] + d[:s]
        subkeys.append(_permute(c + d, _PC2))
    b = _permute(_bits(block), _IP)
    left, right = b[:32], b[32:]
    for sk in subkeys:
        x = [a ^ k for a, k in zip(_permute(right, _E), sk)]
        out = []
        for i in range(8):
            six = x[i * 6:i * 6 + 6]
            v = _SBOX[i][six[0] * 2 + six[5]][six[1] * 8 + six[2] * 4 + six[3] * 2 + six[4]]
            out += [(v >> (3 - j)) & 1 for j in range(4)]
        left, right = right, [a ^ f for a, f in zip(left, _permute(out, _P))]
    bits = _permute(right + left, _FP)
    return bytes(sum(bits[i * 8 + j] << (7 - j) for j in range(8)) for i in range(8))


def vnc_auth_response(password, challenge):
    """The VNC authentication response: the challenge DES-encrypted under the password's first
    8 bytes, each byte's bits reversed."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    return des_encrypt(key, challenge[:8]) + des_encrypt(key, challenge[8:16])


# ---- RFB ---------------------------------------------------------------------------------

class RfbError(Exception):
    pass


# X keysyms
XK = {"a": 0x61, "A": 0x41, "Return": 0xFF0D, "Escape": 0xFF1B, "F1": 0xFFBE, "F12": 0xFFC9,
      "Left": 0xFF51, "Shift_L": 0xFFE1, "Control_L": 0xFFE3, "Alt_L": 0xFFE9, "z": 0x7A,
      "y": 0x79, "udiaeresis": 0xFC, "at": 0x40, "ISO_Level3_Shift": 0xFE03, "space": 0x20,
      "Tab": 0xFF09, "BackSpace": 0xFF08, "1": 0x31, "exclam": 0x21}


class Rfb:
    """A minimal RFB 3.8 (or 3.3) client: no security, 32 bpp little-endian XRGB, raw and the
    pseudo-encodings it asks for."""

    def __init__(self, address, timeout=15, shared=True, password=None):
        self.password = password
        if isinstance(address, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(timeout)
        self.s.connect(address)
        self.buf = bytearray()
        self.handshake(shared)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise RfbError(f"server closed the connection ({len(self.buf)} of {n} bytes)")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def handshake(self, shared):
        version = self.recv_exact(12)
        if not version.startswith(b"RFB "):
            raise RfbError(f"not an RFB server: {version!r}")
        minor = int(version[8:11])
        self.version = (3, 8 if minor >= 8 else 3)
        self.s.sendall(b"RFB 003.008\n" if minor >= 8 else b"RFB 003.003\n")
        if self.version == (3, 8):
            n = self.recv_exact(1)[0]
            if n == 0:
                raise RfbError("server refused: " + self.reason())
            self.security_types = list(self.recv_exact(n))
            if self.password is not None and 2 in self.security_types:
                self.s.sendall(b"\x02")
                self.s.sendall(vnc_auth_response(self.password, self.recv_exact(16)))
            elif 1 in self.security_types:
                self.s.sendall(b"\x01")
            else:
                raise RfbError(f"no usable security type: {self.security_types}")
            if struct.unpack(">I", self.recv_exact(4))[0] != 0:
                raise RfbError("security failed: " + self.reason())
        else:
            sec = struct.unpack(">I", self.recv_exact(4))[0]
            if sec != 1:
                raise RfbError(f"security type {sec}")
        self.s.sendall(bytes([1 if shared else 0]))
        w, h = struct.unpack(">HH", self.recv_exact(4))
        self.server_format = self.recv_exact(16)
        name_len = struct.unpack(">I", self.recv_exact(4))[0]
        self.name = self.recv_exact(name_len).decode(errors="replace")
        self.width, self.height = w, h
        self.fb = bytearray(w * h * 4)
        # 32 bpp, depth 24, little endian, true colour, red at 16, green at 8, blue at 0
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255,
                                   16, 8, 0))

    def reason(self):
        n = struct.unpack(">I", self.recv_exact(4))[0]
        return self.recv_exact(n).decode(errors="replace")

    def set_encodings(self, encodings):
        self.s.sendall(struct.pack(">BxH", 2, len(encodings)) +
                       b"".join(struct.pack(">i", e) for e in encodings))

    def request(self, incremental, x=0, y=0, w=None, h=None):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y,
                                   self.width if w is None else w,
                                   self.height if h is None else h))

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def tap_key(self, *keysyms):
        """Presses KEYSYMS in order and releases them in reverse (a chord)."""
        for k in keysyms:
            self.key(k, True)
        for k in reversed(keysyms):
            self.key(k, False)

    def qemu_key(self, keycode, down, keysym=0):
        """QEMU extended key event: an XT scan code with 0xE0 folded into bit 7."""
        self.s.sendall(struct.pack(">BBHII", 255, 0, 1 if down else 0, keysym, keycode))

    def read_message(self):
        """Reads one server message. Returns ('update', rects) with rects a list of
        (x, y, w, h, encoding, payload bytes), or ('other', type)."""
        kind = self.recv_exact(1)[0]
        if kind == 0:
            n = struct.unpack(">xH", self.recv_exact(3))[0]
            rects = []
            for _ in range(n):
                x, y, w, h, enc = struct.unpack(">HHHHi", self.recv_exact(12))
                if enc == 0:
                    data = self.recv_exact(w * h * 4)
                    for row in range(h):
                        o = ((y + row) * self.width + x) * 4
                        self.fb[o:o + w * 4] = data[row * w * 4:(row + 1) * w * 4]
                elif enc == -223:  # DesktopSize
                    self.width, self.height = w, h
                    self.fb = bytearray(w * h * 4)
                    data = b""
                elif enc == 1:  # CopyRect
                    sx, sy = struct.unpack(">HH", self.recv_exact(4))
                    src = bytes(self.fb)
                    for row in range(h):
                        so = ((sy + row) * self.width + sx) * 4
                        o = ((y + row) * self.width + x) * 4
                        self.fb[o:o + w * 4] = src[so:so + w * 4]
                    data = b""
                elif enc == -258:  # QEMU extended key event acknowledged
                    data = b""
                else:
                    raise RfbError(f"unexpected encoding {enc}")
                rects.append((x, y, w, h, enc, data))
            return "update", rects
        if kind == 1:  # colour map entries
            _, first, n = struct.unpack(">BHH", self.recv_exact(5))
            self.recv_exact(6 * n)
            return "other", kind
        if kind == 2:  # bell
            return "other", kind
        if kind == 3:  # server cut text
            n = struct.unpack(">3xI", self.recv_exact(7))[0]
            self.recv_exact(n)
            return "other", kind
        raise RfbError(f"unknown server message {kind}")

    def capture(self, timeout=15):
        """A full (non-incremental) frame as an Image."""
        self.request(False)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            kind, rects = self.read_message()
            if kind == "update" and any(r[4] == 0 for r in rects):
                break
            if kind == "update" and any(r[4] == -223 for r in rects):
                self.request(False)
        rgb = bytearray(self.width * self.height * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = self.fb[2::4], self.fb[1::4], self.fb[0::4]
        return Image(self.width, self.height, rgb)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- machines ----------------------------------------------------------------------------

def free_display():
    """A VNC display number N whose port 5900+N is free on 127.0.0.1 just now."""
    for n in range(40 + os.getpid() % 400, 1000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 5900 + n))
            return n
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free VNC port")


def wait_port(port, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            time.sleep(0.1)
        finally:
            s.close()
    return False


def start_with_vnc(start, seconds=30, tries=3):
    """START(display) -> Machine, with a free display number; a VMM that could not bind its
    port (another test took it in between) is started again on another. Returns the machine
    once its VNC port accepts connections (or its process has ended for another reason)."""
    for attempt in range(tries):
        display = free_display()
        m = start(display)
        end = time.monotonic() + seconds
        while time.monotonic() < end and m.running():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect(("127.0.0.1", 5900 + display))
                return m, display
            except OSError:
                time.sleep(0.1)
            finally:
                s.close()
        err = m.stderr().lower()
        if m.running() or attempt == tries - 1 or not any(
                w in err for w in ("in use", "bind", "available port")):
            return m, display
        m.kill()
    return m, display


def gvnccapture(display, out, timeout=30):
    """Captures VNC display 127.0.0.1:DISPLAY with gvnccapture into OUT; (ok, messages)."""
    try:
        p = subprocess.run(["gvnccapture", f"127.0.0.1:{display}", out], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "gvnccapture timed out"
    return p.returncode == 0 and os.path.exists(out), p.stdout + p.stderr


class Machine:
    """A VMM process running one guest with COM1 in a file."""
    proc = None
    serial = None
    errfile = None

    def wait_serial(self, text, seconds=60):
        """True once TEXT is on COM1; False on timeout or when the VMM exits first."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if text in read(self.serial):
                return True
            if self.proc.poll() is not None:
                return text in read(self.serial)
            time.sleep(0.05)
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stderr(self):
        return read(self.errfile)


class PcvmMachine(Machine):

    def __init__(self, binary, tmp, disk, name, vnc=None, extra=(), test_exit=True, conf=""):
        """Creates bundle NAME.pcvm in TMP for DISK (CONF appended to its vm.conf) and runs it,
        with --vnc 127.0.0.1:VNC if VNC is not None and the arguments EXTRA."""
        self.binary, self.tmp, self.name = binary, tmp, name
        self.bundle = os.path.join(tmp, name + ".pcvm")
        args = [binary, "create", self.bundle, "--disk", disk]
        if test_exit:
            args.append("--test-exit")
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("pcvm create failed: " + p.stderr)
        if conf:
            with open(os.path.join(self.bundle, "vm.conf"), "a") as f:
                f.write("\n" + conf)
        self.serial = os.path.join(tmp, name + ".serial")
        self.errfile = os.path.join(tmp, name + ".stderr")
        cmd = [binary, "run", self.bundle, "--serial", self.serial]
        if vnc is not None:
            cmd += ["--vnc", f"127.0.0.1:{vnc}"]
        cmd += list(extra)
        with open(self.errfile, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        self.vnc_sock = os.path.join(self.bundle, "run", "vnc.sock")
        self.control_sock = os.path.join(self.bundle, "run", "control.sock")

    def cli(self, *args, timeout=30):
        p = subprocess.run([self.binary, *args], capture_output=True, text=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def screenshot(self, out):
        """(Image or None, messages) from `pcvm screenshot`."""
        rc, out_text, err = self.cli("screenshot", self.bundle, out)
        if rc != 0 or not os.path.exists(out):
            return None, f"pcvm screenshot: exit {rc}: {out_text}{err}"
        return read_png(out), ""

    def control(self, cmd, **args):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(15)
        s.connect(self.control_sock)
        s.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        buf = b""
        try:
            while True:
                while b"\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if "ok" in msg:
                    return msg
        finally:
            s.close()

    def log(self):
        return read(os.path.join(self.bundle, "pcvm.log"))

    def stop(self):
        """`pcvm stop`, then the process's exit code (None if it had to be killed)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.cli("stop", self.bundle)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


class QemuMachine(Machine):

    def __init__(self, tmp, disk, name, vnc, test_exit=True, memory=256):
        self.serial = os.path.join(tmp, name + ".serial")
        self.errfile = os.path.join(tmp, name + ".stderr")
        self.display = vnc
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m", str(memory),
               "-nodefaults", "-vga", "std", "-display", "none",
               "-vnc", f"127.0.0.1:{vnc}", "-serial", "file:" + self.serial,
               "-drive", f"file={disk},format=raw,if=ide"]
        if test_exit:
            cmd += ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        with open(self.errfile, "w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)

    def stop(self):
        self.kill()
