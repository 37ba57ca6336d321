"""load_engine: turn a model name into a ready DiffusersEngine.

Three kinds of name:
  * a built-in random model, built in memory with no download: "tiny-random", a tiny
    pipeline (tests, CI, laptops), or "sd15-random", SD 1.5 inpainting at full size
    with random weights (real compute for benchmarks, noise for pictures);
  * a local folder in save_pretrained layout (model_index.json at its root), loaded
    offline with AutoPipelineForInpainting, which picks SD or SDXL inpainting itself;
  * anything else is a Hugging Face hub id: used from the local cache when it is there,
    downloaded only when the machine can reach the hub, else a ValueError saying how to
    get a folder instead.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .engine import DiffusersEngine, describe, resolve_device, resolve_dtype
from .random_models import SD15_NATIVE_SIZE, SD15_RANDOM, build_sd15_random_pipeline
from .tiny import TINY_NATIVE_SIZE, build_tiny_random_pipeline

TINY_RANDOM = "tiny-random"
DEFAULT_STEPS = 20
TINY_DEFAULT_STEPS = 2  # random weights: more steps only cost time, they improve nothing
DEFAULT_GUIDANCE = 7.5

# name -> (builder, native side, default steps, what the progress line calls it).
# sd15-random keeps a real model's 20 steps: it exists to cost what a real model costs.
BUILT_IN_MODELS: dict[str, tuple[Callable[..., Any], int, int, str]] = {
    TINY_RANDOM: (build_tiny_random_pipeline, TINY_NATIVE_SIZE, TINY_DEFAULT_STEPS, "the tiny random pipeline"),
    SD15_RANDOM: (
        build_sd15_random_pipeline,
        SD15_NATIVE_SIZE,
        DEFAULT_STEPS,
        "SD 1.5 inpainting at full size with random weights (~4.3 GB in float32, 5-20 s on a CPU)",
    ),
}
BUILT_IN_NAMES = ", ".join(repr(name) for name in BUILT_IN_MODELS)


def load_engine(
    model: str,
    *,
    device: str = "auto",
    dtype: str | torch.dtype | None = None,
    steps: int | None = None,
    max_batch: int = 4,
    compile: bool = False,
    progress: bool = True,
    native_size: int | None = None,
    guidance_scale: float = DEFAULT_GUIDANCE,
    batch_wait_s: float = 0.005,
) -> DiffusersEngine:
    """Load ``model`` ("tiny-random", "sd15-random", a save_pretrained folder, or a hub id).

    dtype None picks float16 on CUDA and float32 on CPU. steps None picks 2 for
    tiny-random and 20 otherwise (sd15-random too). native_size overrides the long-side
    cap (SD 512, SDXL 1024, tiny 128). batch_wait_s is how long the worker waits for
    batch mates.
    Progress lines go to stderr when ``progress`` is true.
    """
    started = time.monotonic()
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)

    def say(message: str) -> None:
        if progress:
            print(f"[reference] {message}", file=sys.stderr, flush=True)

    if model in BUILT_IN_MODELS:
        build, built_in_native, built_in_steps, what = BUILT_IN_MODELS[model]
        say(f"building {what} ({torch_dtype}, {torch_device})")
        pipeline = build(torch_dtype=torch_dtype)
        native_size = native_size or built_in_native
        steps = steps or built_in_steps
    else:
        with _diffusers_progress_bars(progress):
            pipeline = _load_pipeline(model, torch_dtype, say)
        steps = steps or DEFAULT_STEPS

    say(f"moving the pipeline to {torch_device}" + (" and compiling the UNet" if compile else ""))
    engine = DiffusersEngine(
        pipeline,
        steps=steps,
        guidance_scale=guidance_scale,
        device=torch_device,
        max_batch=max_batch,
        native_size=native_size,
        compile=compile,
        batch_wait_s=batch_wait_s,
    )
    say(f"ready in {time.monotonic() - started:.1f} s: {describe(engine)}")
    return engine


def _load_pipeline(model: str, torch_dtype: torch.dtype, say: Callable[[str], None]) -> Any:
    from diffusers import AutoPipelineForInpainting

    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").is_file():
            raise ValueError(
                f"folder {str(folder)!r} has no model_index.json, so it is not a diffusers pipeline; "
                "expected a folder written by pipeline.save_pretrained(folder)"
            )
        say(f"loading the pipeline in folder {str(folder)!r} ({torch_dtype})")
        return AutoPipelineForInpainting.from_pretrained(
            str(folder), local_files_only=True, **_dtype_kwargs(torch_dtype)
        )
    if _looks_like_path(model):
        raise ValueError(
            f"model {model!r} looks like a folder path but no such folder exists; "
            f"pass an existing folder made with save_pretrained, a hub id, or a built-in model ({BUILT_IN_NAMES})"
        )

    # A hub id. The local cache needs no network, so try it first.
    try:
        with warnings.catch_warnings():  # hub-client deprecation chatter about a lookup we expect to miss
            warnings.simplefilter("ignore")
            pipeline = AutoPipelineForInpainting.from_pretrained(
                model, local_files_only=True, **_dtype_kwargs(torch_dtype)
            )
    except Exception as cache_error:
        cache_problem = f"{type(cache_error).__name__}: {str(cache_error).splitlines()[0] if str(cache_error) else ''}"
    else:
        say(f"loaded {model!r} from the local hub cache ({torch_dtype})")
        return pipeline

    reachable, why = _hub_reachable()
    if not reachable:
        raise ValueError(
            f"model {model!r} is neither a built-in model ({BUILT_IN_NAMES}) nor a local folder, it is not in the local hub cache "
            f"({cache_problem}), and the hub cannot be reached ({why}). Fix: on a machine with network run "
            "AutoPipelineForInpainting.from_pretrained(id).save_pretrained(folder), copy the folder here and "
            "pass a folder made with save_pretrained; or use model='tiny-random' for a quick offline check."
        )
    say(f"downloading {model!r} from the hub ({torch_dtype}); the first time this can take minutes")
    try:
        return AutoPipelineForInpainting.from_pretrained(model, **_dtype_kwargs(torch_dtype))
    except Exception as error:
        raise ValueError(
            f"model {model!r} is neither a built-in model ({BUILT_IN_NAMES}) nor a local folder, and loading it as a hub id failed "
            f"({type(error).__name__}: {error}). Expected an inpainting pipeline id such as "
            "'stabilityai/stable-diffusion-2-inpainting' or "
            "'diffusers/stable-diffusion-xl-1.0-inpainting-0.1'; or pass a folder made with save_pretrained."
        ) from error


def _dtype_kwargs(torch_dtype: torch.dtype) -> dict[str, torch.dtype]:
    """from_pretrained's dtype argument: `dtype` in new diffusers (which warns about the old
    name), `torch_dtype` in the older ones this project still supports (>= 0.30)."""
    try:
        from diffusers.utils import deprecation_utils

        renamed = hasattr(deprecation_utils, "_resolve_dtype")
    except ImportError:
        renamed = False
    return {"dtype": torch_dtype} if renamed else {"torch_dtype": torch_dtype}


def _looks_like_path(model: str) -> bool:
    """Hub ids are 'name' or 'org/name'; anything path-shaped was meant as a folder."""
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or (os.sep != "/" and os.sep in model)
        or (len(model) > 1 and model[1] == ":")  # C:\...
    )


def _hub_reachable(timeout_s: float = 3.0) -> tuple[bool, str]:
    """Whether a download could work: offline mode off and the hub's port answering."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{variable} is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, "reachable"
    except OSError as error:
        return False, f"cannot connect to {host}:{port}: {error}"


@contextmanager
def _diffusers_progress_bars(enabled: bool) -> Iterator[None]:
    """diffusers' own "Loading pipeline components" bar, on or off, restored afterwards."""
    from diffusers.utils import logging as diffusers_logging

    was_enabled = diffusers_logging.is_progress_bar_enabled()
    if enabled:
        diffusers_logging.enable_progress_bar()
    else:
        diffusers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            diffusers_logging.enable_progress_bar()
        else:
            diffusers_logging.disable_progress_bar()
