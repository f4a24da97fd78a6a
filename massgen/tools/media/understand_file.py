"""``understand_file``: a document as text. PDF (pypdf: each page's text; a page with no text,
such as a scan, is shown to the vision model through its embedded images), Office Open XML
(``.docx``, ``.pptx``, ``.xlsx``) and OpenDocument (``.odt``, ``.odp``, ``.ods``) read from
their XML, plain text in UTF-8; an image goes to the vision model as ``understand_image``'s
would. Legacy binary Office files (``.doc``, ``.xls``, ``.ppt``) are not read."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from pathlib import PurePosixPath
from typing import Any
from xml.etree import ElementTree

from massgen.images import Image
from massgen.tools.base import Tool, ToolError
from massgen.tools.media.sources import Media, MediaReader
from massgen.tools.media.understand_common import (
    IMAGE_TYPES,
    MediaLimits,
    MediaModels,
    arguments,
    as_image,
    spec,
)

NAME = "understand_file"
MISSING_PDF = "understand_file needs pypdf to read PDF files: pip install 'massgen[media]'"
MAX_XML_BYTES = 20 * 2**20  # one part of an Office file, uncompressed (a zip bomb stops here)
MIN_PAGE_CHARS = 20  # a page with less text than this is read from its images
LEGACY = {".doc", ".xls", ".ppt", ".rtf", ".pages", ".key", ".numbers"}
# the XML parts that hold an Office file's text, in reading order
_PARTS = {
    ".docx": re.compile(r"word/document\.xml"),
    ".pptx": re.compile(r"ppt/slides/slide\d+\.xml"),
    ".xlsx": re.compile(r"xl/(sharedStrings|worksheets/sheet\d+)\.xml"),
    ".odt": re.compile(r"content\.xml"),
    ".odp": re.compile(r"content\.xml"),
    ".ods": re.compile(r"content\.xml"),
}
_PARAGRAPHS = {"p", "h", "row", "si", "tr"}  # elements that end a line
_TEXT = {"t", "v", "span", "s"}


def tool(reader: MediaReader, models: MediaModels, limits: MediaLimits) -> Tool:
    async def run(given: dict[str, Any]) -> str:
        path, prompt = arguments(NAME, given)
        media = await reader.read(path, limits.max_bytes)
        if media.media_type in IMAGE_TYPES:
            return await models.see(NAME, prompt or "Describe this image.", [as_image(media)])
        suffix = PurePosixPath(media.name.lower()).suffix
        if media.media_type == "application/pdf":
            return await _pdf(media, prompt, models, limits)
        if suffix in _PARTS:
            return await asyncio.to_thread(_office, media, suffix)
        text = _text(media.data)
        if text is not None and suffix not in LEGACY:
            return text
        hint = " (save it as PDF or .docx)" if suffix in LEGACY else ""
        raise ToolError(
            f"{NAME}: {media.name} is {media.media_type}, a format this tool does not read"
            f"{hint}; it reads PDF, .docx, .pptx, .xlsx, .odt, .odp, .ods, text and images"
        )

    description = (
        "Read a document from your files or an http(s) URL as text: PDF (scanned pages are "
        "read from their images), Word, PowerPoint, Excel, OpenDocument, plain text."
    )
    return Tool(spec(NAME, description), run, "media")


def _text(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---------------------------------------------------------------- PDF


async def _pdf(media: Media, prompt: str, models: MediaModels, limits: MediaLimits) -> str:
    pages, total, scans = await asyncio.to_thread(_pdf_pages, media, limits)
    seen: dict[int, str] = {}
    if scans:
        numbers = ", ".join(str(n) for n, _ in scans)
        question = (
            f"These images are the pictures on page(s) {numbers} of {media.name}, which have "
            "no text layer. Transcribe any text in them and describe what they show. " + prompt
        )
        answer = await models.see(NAME, question, [image for _, image in scans])
        first = scans[0][0]
        seen = {n: f"(read with page {first}'s images)" for n, _ in scans}
        seen[first] = answer.strip()
    parts = [f"{media.name}: PDF, {total} page(s)."]
    for number, text in pages:
        if number in seen:
            parts.append(f"--- page {number} (from its images) ---\n{seen[number]}")
        elif text.strip():
            parts.append(f"--- page {number} ---\n{text.strip()}")
        else:
            parts.append(f"--- page {number} --- (no text)")
    if total > len(pages):
        parts.append(f"[the first {len(pages)} of {total} pages shown]")
    return "\n\n".join(parts)


def _pdf_pages(
    media: Media, limits: MediaLimits
) -> tuple[list[tuple[int, str]], int, list[tuple[int, Image]]]:
    """Each page's text, the page count, and the images of text-less pages (bounded)."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise ToolError(MISSING_PDF) from None
    try:
        pdf = PdfReader(io.BytesIO(media.data))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise ToolError(f"{NAME}: {media.name} is encrypted (a password is needed)")
        pages: list[tuple[int, str]] = []
        scans: list[tuple[int, Image]] = []
        for index, page in enumerate(pdf.pages[: limits.pdf_pages], start=1):
            text = page.extract_text() or ""
            pages.append((index, text))
            if len(text.strip()) < MIN_PAGE_CHARS and len(scans) < limits.page_images:
                scans.extend((index, image) for image in _page_images(page, index))
        return pages, len(pdf.pages), scans[: limits.page_images]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ToolError(f"{NAME}: {media.name} is not a readable PDF ({exc})") from None


def _page_images(page: Any, number: int) -> list[Image]:
    out = []
    for index, picture in enumerate(page.images):
        try:
            shown = picture.image  # Pillow's, decoded by pypdf
            buffer = io.BytesIO()
            shown.save(buffer, format="PNG")
        except Exception:  # an image pypdf cannot decode is left out
            continue
        out.append(Image(f"page{number}-{index}.png", "image/png", data=buffer.getvalue()))
    return out


# ---------------------------------------------------------------- Office, OpenDocument


def _office(media: Media, suffix: str) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(media.data))
    except zipfile.BadZipFile:
        raise ToolError(f"{NAME}: {media.name} is not a valid {suffix} file") from None
    wanted = _PARTS[suffix]
    names = sorted(
        (n for n in archive.namelist() if wanted.fullmatch(n)),
        key=lambda n: [int(d) if d.isdigit() else d for d in re.split(r"(\d+)", n)],
    )
    if not names:
        raise ToolError(f"{NAME}: {media.name} has no {suffix} content")
    sections = []
    for name in names:
        info = archive.getinfo(name)
        if info.file_size > MAX_XML_BYTES:
            raise ToolError(f"{NAME}: {media.name}: {name} is too large to read")
        with archive.open(info) as part:
            xml = part.read(MAX_XML_BYTES + 1)
        title = PurePosixPath(name).stem if suffix in (".pptx", ".xlsx") else ""
        text = _xml_text(xml)
        if text:
            sections.append(f"--- {title} ---\n{text}" if title else text)
    return f"{media.name}:\n\n" + "\n\n".join(sections)


def _xml_text(xml: bytes) -> str:
    """The text of an Office XML part: text elements joined, one line per paragraph or row."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ToolError(f"{NAME}: unreadable XML in the file ({exc})") from None
    lines: list[str] = []
    current: list[str] = []

    def walk(element: ElementTree.Element) -> None:
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in _TEXT and element.text:
            current.append(element.text)
        elif tag == "tab":
            current.append("\t")
        for child in element:
            walk(child)
            if child.tail and tag in ("p", "span", "h"):
                current.append(child.tail)
        if tag in _PARAGRAPHS and current:
            lines.append("".join(current).strip())
            current.clear()
        elif tag == "c" and current and not current[-1].endswith("\t"):
            current.append("\t")  # a spreadsheet cell

    walk(root)
    if current:
        lines.append("".join(current).strip())
    return "\n".join(line for line in lines if line)
