"""The engine seam: what the shared HTTP layer asks of whatever paints pixels.

The HTTP layer (validation, ledger, journal, faults, encoding) is the same for the
fake, the reference implementation and the Ray deployment; only the engine differs.
An engine receives a decoded, validated job and returns the generated picture. The
layer composites it with the original under the mask, so "mask 0 keeps the pixel"
holds for every engine by construction, not by each engine's diligence.
"""

from __future__ import annotations

import hashlib
import os
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
    # Requests the server runs at once (None: no limit). The fill is CPU-bound and so is
    # the decoding and encoding around it: more threads than cores only add cache misses,
    # page faults and GIL hand-offs (bench/hotpath.py), where an engine that batches
    # (the reference) needs many requests waiting together.
    max_concurrency: int | None = max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)

    def inpaint(self, job: InpaintJob) -> Image.Image:
        digest = hashlib.blake2b(
            f"{job.seed}\x00{job.prompt}\x00{job.negative_prompt or ''}".encode(), digest_size=16
        ).digest()
        c0 = np.frombuffer(digest[0:3], dtype=np.uint8).astype(np.float32)
        c1 = np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float32)
        period = 6 + digest[6] % 20
        slope = 1 + digest[7] % 3
        width, height = job.size
        # A gradient along x, darkened to 0.75 on every other stripe of a seed-chosen
        # diagonal: pixel (x, y) is bright when ((x + slope * y) // period) is odd.
        t = (np.arange(width, dtype=np.float32) / max(width - 1, 1))[:, None]
        gradient = c0 * (1 - t) + c1 * t  # one row, float32
        dark = np.clip(gradient * np.float32(0.75), 0, 255).astype(np.uint8)
        bright = np.clip(gradient, 0, 255).astype(np.uint8)
        # Row y is row 0 shifted by slope * y, so the picture has only 2 * period distinct
        # rows: build those, then copy whole rows instead of computing every pixel.
        cycle = 2 * period
        shifted = np.arange(cycle, dtype=np.int64)[:, None] + np.arange(width, dtype=np.int64)[None, :]
        rows = np.where(((shifted // period) % 2 == 1)[..., None], bright, dark)
        pixels = rows[(np.arange(height, dtype=np.int64) * slope) % cycle]
        return Image.fromarray(pixels, "RGB")

    def close(self) -> None:
        return None
