"""The engine seam: what the shared HTTP layer asks of whatever paints pixels.

The HTTP layer (validation, ledger, journal, faults, encoding) is the same for the
fake, the reference implementation and the Ray deployment; only the engine differs.
An engine receives a decoded, validated job and returns the generated picture. The
layer composites it with the original under the mask, so "mask 0 keeps the pixel"
holds for every engine by construction, not by each engine's diligence.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class InpaintJob:
    """One validated request, ready to paint.

    image: RGB, the input's exact size. mask: "L", same size; 0 keeps, 255 repaints,
    values between are a partial strength. seed: already resolved, in [1, 4294967294].
    """

    image: Image.Image
    mask: Image.Image
    prompt: str
    negative_prompt: str | None
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


@runtime_checkable
class Engine(Protocol):
    """Paints a job. Called from worker threads, possibly many at once."""

    name: str

    def inpaint(self, job: InpaintJob) -> Image.Image:
        """Return an RGB picture of ``job.size``; the layer keeps mask-0 pixels."""
        ...

    def close(self) -> None: ...


class FakeEngine:
    """Deterministic, cheap, seed- and prompt-dependent fill.

    The fill is a smooth two-colour gradient with a stripe pattern: enough structure
    that a wrong mask, a rounded size or an ignored seed shows in the pictures, cheap
    enough that the HTTP layer, not the engine, dominates the fake's cost.
    """

    name = "fake"

    def inpaint(self, job: InpaintJob) -> Image.Image:
        digest = hashlib.blake2b(
            f"{job.seed}\x00{job.prompt}\x00{job.negative_prompt or ''}".encode(), digest_size=16
        ).digest()
        c0 = np.frombuffer(digest[0:3], dtype=np.uint8).astype(np.float32)
        c1 = np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float32)
        period = 6 + digest[6] % 20
        width, height = job.size
        # Gradient along x, stripes along a seed-chosen diagonal: float32 keeps it fast.
        t = (np.arange(width, dtype=np.float32) / max(width - 1, 1))[None, :, None]
        ys = np.arange(height, dtype=np.int32)[:, None]
        xs = np.arange(width, dtype=np.int32)[None, :]
        stripes = (((xs + ys * (1 + digest[7] % 3)) // period) % 2).astype(np.float32)[..., None]
        pixels = c0 * (1 - t) + c1 * t
        pixels = pixels * (0.75 + 0.25 * stripes)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    def close(self) -> None:
        return None
