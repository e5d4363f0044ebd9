"""Width and height of an uploaded image from its header, without decoding any pixels.

The server refuses photos over its pixel cap from these numbers before a decoder allocates anything (a
20000 x 20000 PNG is 388 KB on disk and 1.2 GB decoded). Formats: the four the server accepts (JPEG, PNG,
WebP, BMP); decoders allocate from the same header fields, so the check bounds their memory.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic; not DHT C4, JPG C8, DAC CC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MAX_JPEG_SEGMENTS = 4096


def image_size(path: Path | BinaryIO) -> tuple[int, int] | None:
    """(width, height) in pixels from the header of a JPEG, PNG, WebP or BMP file (a path or a seekable binary
    file object, read from its start); None when not readable."""
    if not isinstance(path, (str, Path)):
        path.seek(0)
        return _image_size(path)
    with open(path, "rb") as f:
        return _image_size(f)


def _image_size(f: BinaryIO) -> tuple[int, int] | None:
    head = f.read(32)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"BM") and len(head) >= 26:
        (header_size,) = struct.unpack("<I", head[14:18])
        if header_size == 12:
            return struct.unpack("<HH", head[18:22])
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head.startswith(b"\xff\xd8"):
        f.seek(2)
        return _jpeg_size(f)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        (bits,) = struct.unpack("<I", head[21:25])
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    return None


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    """Walk the JPEG marker segments up to the first start-of-frame; (width, height) from it."""
    for _ in range(_MAX_JPEG_SEGMENTS):
        b = f.read(1)
        while b and b != b"\xff":  # garbage between segments
            b = f.read(1)
        while b == b"\xff":  # fill bytes
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        raw = f.read(2)
        if len(raw) < 2:
            return None
        (length,) = struct.unpack(">H", raw)
        if marker in _SOF:
            seg = f.read(5)
            if len(seg) < 5:
                return None
            h, w = struct.unpack(">HH", seg[1:5])
            return w, h
        if length < 2:
            return None
        f.seek(length - 2, 1)
    return None
