"""The standard request probes start from: `valid_spec()`, which every server must accept.

The request model is the contracts' one (`contracts.request_spec`: RequestSpec, Upload,
upload); probes vary one thing at a time with `RequestSpec.but(...)`, and
`exchanges.build_request` turns a spec into the bytes httpx sends.
"""

from __future__ import annotations

import functools

from inpaint_conformance.contracts.request_spec import RequestSpec, Upload, upload

from .probe_images import ROUND_SIZE, half_mask, patterned

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


__all__ = ["FIXED_SEED", "PROMPT", "RequestSpec", "Upload", "upload", "valid_spec"]
