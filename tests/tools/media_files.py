"""Real small media made in the tests: a PNG (Pillow), a WAV (the wave module), an MP4 with
an audio track (PyAV), PDFs (a text page written by hand, a scanned page through Pillow) and a
.docx (its XML in a zip)."""

from __future__ import annotations

import io
import math
import struct
import wave
import zipfile
from pathlib import Path


def png(path: Path, color: str = "red", size: int = 32) -> Path:
    from PIL import Image

    Image.new("RGB", (size, size), color).save(path, format="PNG")
    return path


def wav(path: Path, seconds: float = 0.5, rate: int = 16_000) -> Path:
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def mp4(path: Path, seconds: int = 2, fps: int = 5) -> Path:
    """A tiny MP4: 64x48 frames of changing colour and a sine tone (the fake Sora's encoder)."""
    from massgen.testing.media_server import encoded_mp4

    path.write_bytes(encoded_mp4(seconds, fps, (64, 48)))
    return path


def text_pdf(path: Path, text: str) -> Path:
    """A one-page PDF with ``text`` in Helvetica, its cross-reference table computed."""
    stream = f"BT /F1 18 Tf 40 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out.getvalue())
    return path


def scanned_pdf(path: Path) -> Path:
    """A PDF whose only page is a picture (no text layer), as a scanner makes."""
    from PIL import Image

    Image.new("RGB", (60, 40), "blue").save(path, format="PDF")
    return path


def docx(path: Path, paragraphs: list[str]) -> Path:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return path
