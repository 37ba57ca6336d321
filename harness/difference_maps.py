"""Difference maps: where an output differs from what was expected, highlighted.

For kept pixels (A12, V7) the output is compared to the input where the mask is 0;
for reproducibility (A16) two outputs of one request and seed are compared
everywhere. Red marks a judged pixel that changed (amplified, so a change of 32 of
255 is already full red), grey one that did not, blue the repainted region where
any change is allowed. Shrunk maps keep the largest change of each block, so a
single changed pixel of a large image still shows in a thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from inpaint_conformance.contracts.images import to_rgb
from inpaint_conformance.contracts.rules import kept_and_repainted

DIFF_GAIN = 8  # a difference of 32 (of 255) already shows at full strength
CHANGED = np.array([255, 48, 48], dtype=np.float32)  # red: a judged pixel that changed
REPAINTED_TINT = np.array([40, 60, 130], dtype=np.float32)  # blue: repainted, any change allowed


@dataclass
class Layers:
    """A difference map before it is painted: all HxW arrays."""

    grey: np.ndarray  # float32 0..255: the picture under the highlight
    strength: np.ndarray  # float32 0..1: how much a judged pixel changed (amplified)
    kept: np.ndarray  # bool: judged pixels (where a change is a defect)
    repainted: np.ndarray  # bool: pixels where any change is allowed


def _layers(expected: Image.Image, actual: Image.Image, kept: np.ndarray, repainted: np.ndarray) -> Layers:
    a = np.asarray(to_rgb(expected), dtype=np.int16)
    b = np.asarray(to_rgb(actual), dtype=np.int16)
    change = np.abs(b - a).max(axis=2).astype(np.float32)
    strength = np.minimum(change * (DIFF_GAIN / 255.0), 1.0)
    grey = a.sum(axis=2, dtype=np.float32) / 3.0
    return Layers(grey, strength, kept, repainted)


def pooled(layers: Layers, side: int) -> Layers:
    """Shrunk to fit ``side``: the largest change of each block survives, so one changed pixel still shows."""
    height, width = layers.grey.shape
    factor = -(-max(height, width) // side)
    if factor <= 1:
        return layers

    def blocks(values: np.ndarray) -> np.ndarray:
        h, w = -(-height // factor) * factor, -(-width // factor) * factor
        padded = np.pad(values, ((0, h - height), (0, w - width)), mode="edge")
        return padded.reshape(h // factor, factor, w // factor, factor)

    judged_change = blocks(layers.strength * layers.kept).max(axis=(1, 3))
    kept = blocks(layers.kept.astype(np.float32)).mean(axis=(1, 3)) >= 0.5
    repainted = (blocks(layers.repainted.astype(np.float32)).mean(axis=(1, 3)) >= 0.5) & (judged_change == 0)
    return Layers(blocks(layers.grey).mean(axis=(1, 3)), judged_change, kept | (judged_change > 0), repainted)


def paint(layers: Layers) -> Image.Image:
    grey = layers.grey[..., None]
    strength = layers.strength[..., None]
    shown = np.repeat(grey * 0.25, 3, axis=2)  # pixels judged neither way (partial mask strength)
    shown = np.where(layers.kept[..., None], grey * 0.6 * (1 - strength) + CHANGED * strength, shown)
    shown = np.where(layers.repainted[..., None], grey * 0.2 + REPAINTED_TINT * 0.5, shown)
    return Image.fromarray(np.clip(shown, 0, 255).astype(np.uint8), "RGB")


def kept_layers(original: Image.Image, output: Image.Image, mask: Image.Image) -> Layers:
    kept, repainted = kept_and_repainted(mask)
    return _layers(original, output, kept, repainted)


def outputs_layers(first: Image.Image, second: Image.Image) -> Layers:
    everywhere = np.ones((second.height, second.width), dtype=bool)
    return _layers(first, second, everywhere, ~everywhere)


def kept_difference(
    original: Image.Image, output: Image.Image, mask: Image.Image, *, side: int | None = None
) -> Image.Image:
    """Where the output differs from the input on the pixels the mask keeps, in red.

    Kept pixels that did not change are grey; repainted pixels (mask 255) are dimmed
    and tinted blue, since any change there is allowed. A mask read inverted lights up
    the whole kept region; a few changed pixels show as red dots, also when ``side``
    shrinks the map.
    """
    layers = kept_layers(original, output, mask)
    return paint(pooled(layers, side) if side else layers)
