"""Stable Diffusion 1.5 inpainting at full size with random weights, built offline.

Why: to measure what the reference engine costs on real-sized compute (a CPU box, a CI
runner, a GPU with no hub access) without downloading 4 GB of weights. The modules use
the configs of runwayml/stable-diffusion-inpainting, so every convolution, attention
and matrix product has the real shapes and the same FLOPs per step; only the numbers
in the weights are random, so the pictures are noise.

One deliberate difference: the text encoder has the tiny offline tokenizer's vocabulary
(about a hundred tokens) instead of CLIP's 49,408. The token embedding is a table lookup,
not a matrix product, so its size changes memory (~38 M parameters, 145 MiB in float32)
but not the FLOPs; the sequence length is still CLIP's 77, so the 12 transformer layers
and the UNet's cross-attention do exactly the real work. The scheduler is tiny-random's
DDIM, not the PNDM that SD 1.5 ships with: both call the UNet once per step (PNDM
without its Runge-Kutta warm-up, as SD uses it), so a step costs the same.

The weights come from ``torch.manual_seed(0)`` (as for tiny-random), so every run on the
same torch version builds the same model. ``device="meta"`` builds the modules without
allocating or initialising any weight: cheap enough for tests that check the sizes.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch

from .tiny import TINY_MAX_TOKENS, assemble_inpaint_pipeline, build_tiny_tokenizer

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

SD15_RANDOM = "sd15-random"
SD15_NATIVE_SIZE = 512  # SD 1.5 was trained at 512 px: UNet sample_size 64 x the VAE's 8
VAE_FACTOR = 8

CLIP_HIDDEN = 768  # ViT-L/14's text width, which the UNet's cross-attention reads


def sd15_inpaint_unet(device: str | torch.device | None = None) -> UNet2DConditionModel:
    """The SD 1.5 inpainting UNet: 9 input channels (4 noisy latent + 4 masked-image latent
    + 1 mask), ~859.5 M parameters."""
    from diffusers import UNet2DConditionModel

    with _on(device):
        return UNet2DConditionModel(
            sample_size=SD15_NATIVE_SIZE // VAE_FACTOR,
            in_channels=9,
            out_channels=4,
            layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=CLIP_HIDDEN,
            attention_head_dim=8,
            norm_num_groups=32,
        )


def sd15_vae(device: str | torch.device | None = None) -> AutoencoderKL:
    """SD 1.5's KL autoencoder: 8x down-sampling to 4 latent channels, ~83.65 M parameters."""
    from diffusers import AutoencoderKL

    with _on(device):
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=SD15_NATIVE_SIZE,
        )


def sd15_text_encoder(tokenizer: Any, device: str | torch.device | None = None) -> CLIPTextModel:
    """CLIP ViT-L/14's text tower as SD 1.5 uses it, with ``tokenizer``'s vocabulary (see the
    module docstring for why that leaves the FLOPs alone)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=CLIP_HIDDEN,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=TINY_MAX_TOKENS,  # 77, CLIP's context length
        hidden_act="quick_gelu",
        projection_dim=CLIP_HIDDEN,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with _on(device):
        return CLIPTextModel(config)


def build_sd15_random_modules(device: str | torch.device | None = None) -> dict[str, Any]:
    """unet, vae, text_encoder and tokenizer, seeded; on ``device`` ("meta": shapes only)."""
    tokenizer = build_tiny_tokenizer()
    # Same seeding as tiny-random: fixed creation order + fixed seed = fixed weights, and
    # fork_rng leaves the caller's global RNG state as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = sd15_inpaint_unet(device)
        vae = sd15_vae(device)
        text_encoder = sd15_text_encoder(tokenizer, device)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer}


def build_sd15_random_pipeline(torch_dtype: torch.dtype = torch.float32) -> StableDiffusionInpaintPipeline:
    """The full-size random SD 1.5 inpainting pipeline, on the CPU in float32 and then cast.

    Takes 4.2 GiB of RAM in float32, and 6 to 18 s of weight initialisation on a
    2-core CPU (bench/README.md).
    """
    modules = build_sd15_random_modules()
    return assemble_inpaint_pipeline(
        modules["unet"], modules["vae"], modules["text_encoder"], modules["tokenizer"], torch_dtype
    )


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters; works on meta tensors, which have shapes but no storage."""
    return sum(parameter.numel() for parameter in module.parameters())


def _on(device: str | torch.device | None):
    """Create modules on ``device`` (torch's device context), or wherever torch defaults."""
    return torch.device(device) if device is not None else nullcontext()
