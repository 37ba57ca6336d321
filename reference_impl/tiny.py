"""A tiny, randomly initialised Stable Diffusion inpainting pipeline, built offline.

Why: the reference engine must be testable on a laptop CPU and in CI with no model hub.
The weights are random, so the pictures are noise-like, but every moving part of a real
SD inpainting pipeline is there: a 9-channel UNet (4 noisy latent + 4 masked-image latent
+ 1 mask), a VAE, a CLIP text encoder and tokenizer, and a DDIM scheduler. Anything that
is wrong in how the engine drives the pipeline (seeds, batching, sizes, masks) shows up
with this model exactly as it would with a real one, only about a thousand times faster.

The model is built under ``torch.manual_seed(0)`` so the same weights come out on every
run and every machine with the same torch version.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from diffusers import StableDiffusionInpaintPipeline

# Pixel side the tiny model is "native" at: its UNet sample_size times the VAE factor.
TINY_NATIVE_SIZE = 128
TINY_MAX_TOKENS = 77  # the CLIP context length SD uses; keeps prompt handling realistic

_SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
# Single characters the tokenizer knows; anything else maps to the unknown token.
_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"
# A handful of merges, so the BPE path is exercised, not only the single-character path.
_MERGES = ("t h", "th e</w>", "a n", "i n", "o n</w>", "e r", "r e", "a t</w>")


def _tiny_vocabulary() -> dict[str, int]:
    """Specials, then each character with and without the CLIP end-of-word suffix, then merges."""
    tokens: list[str] = list(_SPECIAL_TOKENS)
    for char in _CHARACTERS:
        tokens.append(char)
        tokens.append(char + "</w>")
    for merge in _MERGES:
        left, right = merge.split(" ")
        tokens.append(left + right)
    unique = list(dict.fromkeys(tokens))  # keep order, drop repeats
    return {token: index for index, token in enumerate(unique)}


def build_tiny_tokenizer():
    """A CLIPTokenizer from a vocab.json and merges.txt written to a temporary folder.

    Going through files (rather than constructor arguments) works with both the slow
    transformers 4 tokenizer and the tokenizers-backed transformers 5 one.
    """
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory(prefix="tiny-clip-tokenizer-") as folder:
        vocab_path = Path(folder) / "vocab.json"
        merges_path = Path(folder) / "merges.txt"
        vocab_path.write_text(json.dumps(_tiny_vocabulary()), encoding="utf-8")
        # The first line is a version header that CLIP merge files carry and readers skip.
        merges_path.write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
        if _tokenizer_takes_files(CLIPTokenizer):
            return CLIPTokenizer(
                vocab_file=str(vocab_path), merges_file=str(merges_path), model_max_length=TINY_MAX_TOKENS
            )
        return CLIPTokenizer.from_pretrained(folder, model_max_length=TINY_MAX_TOKENS, local_files_only=True)


def _tokenizer_takes_files(tokenizer_class) -> bool:
    """transformers 4's slow CLIPTokenizer takes file paths; 5's takes vocab/merges objects."""
    import inspect

    return "vocab_file" in inspect.signature(tokenizer_class.__init__).parameters


def build_tiny_random_pipeline(torch_dtype: torch.dtype = torch.float32) -> StableDiffusionInpaintPipeline:
    """Build the tiny random SD inpainting pipeline, offline, in about a second."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_tiny_tokenizer()
    # Seed right before the modules are created: their init order is fixed, so the
    # weights are too. fork_rng leaves the caller's global RNG state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            sample_size=TINY_NATIVE_SIZE // 8,  # latent side: the VAE below downsamples by 8
            in_channels=9,  # 4 noisy latent + 4 masked-image latent + 1 mask
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            # Four blocks give SD's 8x down-sampling, so "a multiple of 8" means the same
            # here as for a real model, and the UNet works on small, cheap latents.
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(32, 32, 64, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=TINY_NATIVE_SIZE,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=TINY_MAX_TOKENS,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                projection_dim=32,
            )
        )
    return assemble_inpaint_pipeline(unet, vae, text_encoder, tokenizer, torch_dtype)


def assemble_inpaint_pipeline(
    unet, vae, text_encoder, tokenizer, torch_dtype: torch.dtype = torch.float32
) -> StableDiffusionInpaintPipeline:
    """An SD inpainting pipeline from built modules, with SD's DDIM noise schedule and no
    safety checker; cast to ``torch_dtype`` (the modules are born float32)."""
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline

    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    if torch_dtype != torch.float32:  # modules are born float32; casting them is a no-op otherwise
        with _quiet_diffusers():  # it warns that casting after init is unusual; here it is the point
            pipeline = pipeline.to(dtype=torch_dtype)
    return pipeline


@contextmanager
def _quiet_diffusers() -> Iterator[None]:
    from diffusers.utils import logging as diffusers_logging

    previous = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(previous)


def save_tiny_random(path: str | Path) -> Path:
    """Write the tiny pipeline with save_pretrained, so ``load_engine(path)`` can reload it."""
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    build_tiny_random_pipeline().save_pretrained(str(target), safe_serialization=True)
    return target
