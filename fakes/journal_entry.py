"""What the journal shows of a request: a summary of its fields, keys never in clear (B3).

FakeProvider builds each journal entry from these; the Journal itself only stores
entries, so every store (memory, SQLite, PostgreSQL) receives them already redacted.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from inpaint_conformance.contracts import InpaintRequest, redact_secret

# Summary fields that hold text a client chose, where a key might have been pasted.
TEXT_FIELDS = ("prompt", "negative_prompt", "model_version", "output_format")


def summary_without_keys(summary: dict | None, is_key: Callable[[str], bool]) -> dict | None:
    """The summary with each text field whose value is a key (``is_key``) shown as that key's hint."""
    if summary is None:
        return None

    def hidden(value: object) -> bool:
        if not isinstance(value, str):
            return False
        stripped = value.strip()
        # A key has no whitespace (keys travel in headers): a prompt with spaces needs no look-up.
        return bool(stripped) and not any(c.isspace() for c in stripped) and is_key(stripped)

    return {
        name: redact_secret(value) if name in TEXT_FIELDS and hidden(value) else value
        for name, value in summary.items()
    }


def request_summary(request: InpaintRequest | None) -> dict | None:
    if request is None:
        return None

    def image(img: Image.Image | None, fmt: str | None) -> str | None:
        return f"{(fmt or '?').upper()} {img.width}x{img.height} {img.mode}" if img is not None else None

    return {
        "prompt": (request.prompt or "")[:200] if request.prompt is not None else None,
        "negative_prompt": request.negative_prompt[:200] if request.negative_prompt else None,
        "image": image(request.image, request.image_format),
        "mask": image(request.mask, request.mask_format),
        "seed": request.seed,
        "output_format": request.output_format,
        "model_version": request.model_version,
        "extra_fields": request.extra_fields,
    }
