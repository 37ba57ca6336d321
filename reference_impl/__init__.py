"""The reference implementation: a real diffusers inpainting model behind the Engine seam.

Importing this package is cheap and needs no torch: the heavy modules load on first use,
so the rest of the project (fakes, harness, CLI) works without the 'reference' extra.

    from inpaint_conformance.reference_impl import load_engine
    engine = load_engine("tiny-random")      # or "sd15-random", a save_pretrained folder, a hub id
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import DiffusersEngine


INSTALL_HINT = (
    "the reference engine needs the 'reference' extra: pip install 'inpaint-conformance[reference]' "
    "(on CPU-only machines install CPU torch first: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)


class ReferenceExtraMissing(ImportError):
    """torch, diffusers or transformers is not installed."""


def require_reference_extra() -> None:
    """Raise ReferenceExtraMissing, naming the missing package and the fix, if any is absent."""
    for package in ("torch", "diffusers", "transformers"):
        try:
            importlib.import_module(package)
        except ImportError as error:
            raise ReferenceExtraMissing(f"{INSTALL_HINT}; missing: {package} ({error})") from error


def load_engine(
    model: str,
    *,
    device: str = "auto",
    dtype: Any = None,
    steps: int | None = None,
    max_batch: int = 4,
    compile: bool = False,
    progress: bool = True,
    native_size: int | None = None,
    guidance_scale: float = 7.5,
    batch_wait_s: float = 0.005,
) -> DiffusersEngine:
    """Load "tiny-random", "sd15-random", a save_pretrained folder or a hub id as a DiffusersEngine.

    Same signature as reference_impl.loading.load_engine, which documents the options;
    this wrapper only checks the extra first, so a missing torch reads as an install hint.
    """
    require_reference_extra()
    from .loading import load_engine as load

    return load(
        model,
        device=device,
        dtype=dtype,
        steps=steps,
        max_batch=max_batch,
        compile=compile,
        progress=progress,
        native_size=native_size,
        guidance_scale=guidance_scale,
        batch_wait_s=batch_wait_s,
    )


# Heavy names resolve on first access (PEP 562), after checking the extra is installed.
_LAZY = {
    "DiffusersEngine": "engine",
    "build_sd15_random_pipeline": "random_models",
    "build_tiny_random_pipeline": "tiny",
    "save_tiny_random": "tiny",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_reference_extra()
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INSTALL_HINT",
    "DiffusersEngine",
    "ReferenceExtraMissing",
    "build_sd15_random_pipeline",
    "build_tiny_random_pipeline",
    "load_engine",
    "require_reference_extra",
    "save_tiny_random",
]
