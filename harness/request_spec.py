"""The requests probes send, before encoding: fields, file parts, which key, which body shape.

`valid_spec()` is a request every server must accept; probes vary one thing at a time
with `RequestSpec.but(...)`. `exchanges.build_request` turns a spec into bytes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from PIL import Image

from .credentials import AUTH_ROLES
from .probe_images import EXTENSION, MEDIA, ROUND_SIZE, encode, half_mask, patterned

BODY_KINDS = ("multipart", "truncated", "urlencoded")


@dataclass(frozen=True)
class Upload:
    """One file part, exactly as sent: the filename and Content-Type need not match the bytes."""

    data: bytes
    filename: str = "image.png"
    content_type: str = "image/png"


@dataclass
class RequestSpec:
    fields: dict[str, str | bytes] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    auth: str = "main"
    body: str = "multipart"  # "truncated": the multipart body cut in half; "urlencoded": fields only

    def __post_init__(self) -> None:
        if self.auth not in AUTH_ROLES:
            raise ValueError(f"auth must be one of {AUTH_ROLES}, got {self.auth!r}")
        if self.body not in BODY_KINDS:
            raise ValueError(f"body must be one of {BODY_KINDS}, got {self.body!r}")

    def but(
        self,
        *,
        drop: tuple[str, ...] = (),
        auth: str | None = None,
        body: str | None = None,
        files: dict[str, Upload] | None = None,
        **fields: str | bytes,
    ) -> RequestSpec:
        """A copy with fields set, parts dropped, or other credentials: probes vary one thing at a time."""
        new_fields = {k: v for k, v in {**self.fields, **fields}.items() if k not in drop}
        new_files = {k: v for k, v in {**self.files, **(files or {})}.items() if k not in drop}
        return RequestSpec(new_fields, new_files, auth or self.auth, body or self.body)


def upload(
    image: Image.Image | bytes,
    fmt: str = "png",
    *,
    name: str = "image",
    filename: str | None = None,
    content_type: str | None = None,
) -> Upload:
    """An image part named as an honest client names it, unless told otherwise."""
    data = image if isinstance(image, bytes) else encode(image, fmt)
    return Upload(
        data,
        filename or f"{name}.{EXTENSION.get(fmt, 'bin')}",
        content_type or MEDIA.get(fmt, "application/octet-stream"),
    )


PROMPT = "a small wooden boat on a calm lake, soft morning light"
FIXED_SEED = "20240607"  # any non-zero seed: the same one makes two AIThriving pictures comparable


def valid_spec(
    size: tuple[int, int] = ROUND_SIZE, *, fmt: str = "png", repaint: str = "right", **fields: str | bytes
) -> RequestSpec:
    """A request every server must accept: patterned image, half-and-half mask, a plain prompt."""
    files = {"image": _standard_part("image", size, fmt, repaint), "mask": _standard_part("mask", size, "png", repaint)}
    return RequestSpec({"prompt": PROMPT, **fields}, files)


@functools.lru_cache(maxsize=64)
def _standard_part(name: str, size: tuple[int, int], fmt: str, repaint: str) -> Upload:
    # Most probes send these same few files: encode each once per process.
    image = patterned(size) if name == "image" else half_mask(size, repaint)
    return upload(image, fmt, name=name)
