"""Text that reaches a terminal from data massgen does not control (model output, recorded
sessions, server clients, config values) is made inert here: control characters are shown,
never executed, so a question such as ``"\\x1b]0;pwned\\x07"`` cannot retitle, clear or
reprogram the user's terminal."""

from __future__ import annotations

import re

#: C0 controls except tab and newline, DEL, and the C1 range (8-bit CSI, OSC, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Lone surrogates (from undecodable bytes) cannot be encoded for any terminal.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}"


def visible(text: object, *, single_line: bool = False) -> str:
    """``text`` with every control character written out (``ESC`` becomes ``\\x1b``) and
    lone surrogates replaced by U+FFFD. Tabs and newlines are kept, unless ``single_line``
    (then they are escaped too, so one value stays on one line)."""
    value = str(text)
    value = _SURROGATE.sub("\ufffd", value)
    return (_CONTROL_ALL if single_line else _CONTROL).sub(_show, value)


def clean_text(text: str) -> str:
    """``text`` made safe to encode anywhere: lone surrogates (bytes that were not UTF-8,
    kept by Python's ``surrogateescape``) become U+FFFD. Control characters are kept: use
    :func:`visible` before printing."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def json_line(value: object, **kwargs: object) -> str:
    """``json.dumps`` for a terminal: non-ASCII text stays readable, while DEL and the C1
    controls (which ``ensure_ascii=False`` would emit raw) are written as ``\\u`` escapes,
    the same value to any JSON reader."""
    import json

    text = json.dumps(value, ensure_ascii=False, **kwargs)  # type: ignore[arg-type]
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", clean_text(text))
