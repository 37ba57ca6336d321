"""Reading AIThriving's `data.image`: strict RFC 4648 base64, and why a text is not that (A4, A20)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True)
class Decoded:
    data: bytes | None  # None: not base64 at all
    line_broken: bool = False  # decoded only once whitespace inside it was dropped (A20: a SHOULD failure)
    error: str = ""  # why strict decoding failed, with a hint where a common mistake explains it


def decode_base64(text: str) -> Decoded:
    """Strict base64; line breaks or spaces inside it decode too (the documented client's
    `b64decode` and browsers' `atob` accept them) but are flagged."""
    try:
        return Decoded(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        strict_error = exc
    if "".join(text.split()) != text and not text.lstrip().lower().startswith("data:"):
        try:
            return Decoded(base64.b64decode("".join(text.split()), validate=True), line_broken=True)
        except (binascii.Error, ValueError):
            pass
    return Decoded(None, error=f"{strict_error}{_hint(text)}")


def _hint(text: str) -> str:
    if text.lstrip().lower().startswith("data:"):
        return " (a data: URL; the document returns the bare base64 of the image)"
    if any(ch in text for ch in "\r\n\t "):
        return " (it has line breaks or spaces: RFC 4648 base64 has none unless the document asks for them, and it does not)"
    return ""
