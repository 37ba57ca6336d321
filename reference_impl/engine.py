"""DiffusersEngine: the fakes' Engine seam backed by a real diffusers inpainting pipeline.

Threads: ``inpaint()`` is called from many HTTP worker threads at once. Each caller does
its own resizing (cheap, parallel), then hands the job to a MicroBatcher whose single
worker thread owns the pipeline and runs jobs that share a working size and step count
as one batched pipeline call. Every request brings its own ``torch.Generator`` seeded with
its seed, so its noise does not depend on its batch mates.

Batch invariance: the noise is per request, and no layer of an SD UNet/VAE mixes samples
(group norm, attention and convolutions are per sample). The *arithmetic* is not
bit-identical across batch sizes, though: CPU (oneDNN/MKL) and GPU (cuDNN/cuBLAS) kernels
pick different algorithms for different batch sizes (on CPU: batch 1 versus >= 2, for
convolutions and small linears), and MKL's results also move with the weights' memory
alignment. Measured on the tiny model, 2 steps, 4 requests batched versus alone:
  CPU float32: floats differ by ~1e-5; after uint8 rounding at most 1 level, in at most
               0.02% of values (the CPU tests allow 1 level in 0.2%);
  H100 float32 / float16: at most 1-2 levels, in 1-3% of values;
  H100 bfloat16: up to 6 levels, in up to 12% of values (bf16 keeps 8 mantissa bits).
Same request, same batch composition: identical, run after run, on CPU and GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from .batching import BatchStats, MicroBatcher
from .sizing import float_to_image, paste_back, to_working, working_size

if TYPE_CHECKING:  # the seam's types only; the engine needs nothing else from fakes
    from inpaint_conformance.fakes.engine import InpaintJob

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' means CUDA when a GPU is visible, else CPU; 'cuda' without one is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    if device.split(":")[0] not in ("cuda", "cpu"):
        raise ValueError(f"device must be 'cuda', 'cpu' or 'auto', got {device!r}")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """None means float16 on CUDA (half the memory, same pictures) and float32 on CPU."""
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of float16, bfloat16, float32; got {dtype!r}") from None


def native_size_of(pipeline: Any) -> int:
    """The side the model was trained at: UNet sample_size x VAE factor (SD 512, SDXL 1024)."""
    unet_config = getattr(getattr(pipeline, "unet", None), "config", None)
    sample_size = getattr(unet_config, "sample_size", None)
    if isinstance(sample_size, (list, tuple)):
        sample_size = max(sample_size)
    factor = getattr(pipeline, "vae_scale_factor", 8)
    if isinstance(sample_size, int) and sample_size > 0:
        return int(sample_size * factor)
    return 1024 if "XL" in type(pipeline).__name__ else 512


def use_sdpa_attention(module: Any) -> None:
    """Swap classic attention processors for PyTorch's fused scaled_dot_product_attention.

    Recent diffusers already defaults to it; older ones, or pipelines saved with another
    processor, do not. Custom processors (IP-adapter, LoRA...) are left alone.
    """
    try:
        from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
    except ImportError:  # a diffusers without these names: keep its defaults
        return
    processors = getattr(module, "attn_processors", None)
    if not processors or not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        return
    if any(type(processor) is AttnProcessor for processor in processors.values()):
        module.set_attn_processor(
            {name: AttnProcessor2_0() if type(p) is AttnProcessor else p for name, p in processors.items()}
        )


@dataclass(frozen=True)
class _WorkItem:
    """A job resized to its working size; what the worker thread batches."""

    image: Image.Image
    mask: Image.Image
    prompt: str
    negative_prompt: str
    seed: int
    size: tuple[int, int]
    steps: int


class DiffusersEngine:
    """The reference engine: a diffusers inpainting pipeline behind a micro-batching worker."""

    name = "reference"

    def __init__(
        self,
        pipeline: Any,
        *,
        steps: int = 20,
        guidance_scale: float = 7.5,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        max_batch: int = 4,
        native_size: int | None = None,
        compile: bool = False,
        batch_wait_s: float = 0.005,
        blend_partial_mask: bool = False,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.device = resolve_device(device)
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.native_size = native_size or native_size_of(pipeline)
        # The HTTP layer (fakes.imaging.composite) blends partial strengths for every
        # engine; blending here too would give m*m. True is for using the engine alone.
        self.blend_partial_mask = blend_partial_mask
        if dtype is not None:
            pipeline = pipeline.to(dtype=resolve_dtype(dtype, self.device))
        pipeline = pipeline.to(self.device)
        pipeline.set_progress_bar_config(disable=True)  # a bar per request floods server logs
        for component in ("unet", "vae"):
            if getattr(pipeline, component, None) is not None:
                use_sdpa_attention(getattr(pipeline, component))
        if compile:
            # Recompiles once per new (batch, working size) shape; warm those up if it matters.
            pipeline.unet = torch.compile(pipeline.unet)
        self.pipeline = pipeline
        self._batcher: MicroBatcher[_WorkItem, Image.Image] = MicroBatcher(
            self._paint_batch,
            key=lambda item: (item.size, item.steps),
            max_batch=max_batch,
            wait_s=batch_wait_s,
            name="reference-engine-worker",
        )

    @property
    def max_batch(self) -> int:
        return self._batcher.max_batch

    @property
    def stats(self) -> BatchStats:
        return self._batcher.stats

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The (width, height) a request of ``size`` is painted at."""
        return working_size(size, self.native_size)

    def inpaint(self, job: InpaintJob) -> Image.Image:
        """Paint ``job``; blocks the calling thread, never runs the model on it."""
        return self._finish(job, self._batcher.submit(self._prepare(job)))

    def inpaint_batch(self, jobs: Sequence[InpaintJob]) -> list[Image.Image]:
        """Paint several jobs handed over together (Ray Serve batches); pictures in job order.

        Jobs sharing a working size and step count share pipeline calls (up to max_batch);
        raises the first job's error if any job fails (the caller then retries them alone).
        """
        futures = self._batcher.submit_many([self._prepare(job) for job in jobs])
        return [self._finish(job, future.result()) for job, future in zip(jobs, futures, strict=True)]

    def _prepare(self, job: InpaintJob) -> _WorkItem:
        if job.image.size != job.mask.size:
            raise ValueError(f"image is {job.image.size} but mask is {job.mask.size}; they must match")
        size = self.working_size(job.size)
        image, mask = to_working(job.image, job.mask, size)
        return _WorkItem(
            image=image,
            mask=mask,
            prompt=job.prompt,
            # The pipeline treats None as "" for one request; a batch needs the "" spelled out.
            negative_prompt=job.negative_prompt or "",
            seed=job.seed,
            size=size,
            steps=self.steps,
        )

    def _finish(self, job: InpaintJob, generated: Image.Image) -> Image.Image:
        if self.blend_partial_mask:
            return paste_back(job.image, job.mask, generated)
        exact_only = job.mask.point(lambda value: 255 if value > 0 else 0)
        return paste_back(job.image, exact_only, generated)

    def close(self) -> None:
        """Finish the batch in progress, fail queued requests, stop the worker thread."""
        self._batcher.close()

    # -- worker thread only ----------------------------------------------------------------

    def _paint_batch(self, items: Sequence[_WorkItem]) -> list[Image.Image]:
        width, height = items[0].size
        generators = [torch.Generator(self.device).manual_seed(item.seed) for item in items]
        with torch.inference_mode():
            output = self.pipeline(
                prompt=[item.prompt for item in items],
                negative_prompt=[item.negative_prompt for item in items],
                image=[item.image for item in items],
                mask_image=[item.mask for item in items],
                generator=generators,
                num_inference_steps=items[0].steps,
                guidance_scale=self.guidance_scale,
                strength=1.0,
                height=height,
                width=width,
                output_type="np",
            )
        return [float_to_image(pixels) for pixels in output.images]

    def __enter__(self) -> DiffusersEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DiffusersEngine({type(self.pipeline).__name__}, device={self.device}, steps={self.steps}, "
            f"native={self.native_size}px, max_batch={self.max_batch})"
        )


def describe(engine: DiffusersEngine) -> str:
    """One line for logs: what runs, where, how."""
    dtype = getattr(engine.pipeline, "dtype", "?")
    return f"{engine!r} dtype={dtype}"
