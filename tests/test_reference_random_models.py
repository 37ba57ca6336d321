"""sd15-random: SD 1.5 inpainting at full size with random weights, for real-cost benchmarks.

The size checks build the modules on torch's meta device (shapes, no weights: a few
seconds); only the test marked slow builds the 4.3 GB model and paints with it.
"""

from __future__ import annotations

import os

# Before diffusers/huggingface_hub are imported: they read the flag once, at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the 'reference' extra (torch) is not installed")
pytest.importorskip("diffusers", reason="the 'reference' extra (diffusers) is not installed")

from inpaint_conformance.fakes.engine import InpaintJob  # noqa: E402
from inpaint_conformance.reference_impl import load_engine  # noqa: E402
from inpaint_conformance.reference_impl.loading import BUILT_IN_MODELS  # noqa: E402
from inpaint_conformance.reference_impl.random_models import build_sd15_random_modules, parameter_count  # noqa: E402

pytestmark = pytest.mark.reference

# Published sizes of runwayml/stable-diffusion-inpainting's modules, written out here
# rather than imported, so a wrong constant in the module cannot hide a wrong model.
REAL_UNET = 859_535_364
REAL_VAE = 83_653_863
REAL_TEXT_ENCODER = 123_060_480
CLIP_VOCABULARY, CLIP_HIDDEN = 49_408, 768
TOLERANCE = 0.01


def assert_about(got: int, expected: int, what: str) -> None:
    assert abs(got - expected) <= TOLERANCE * expected, f"{what}: {got:,} parameters, expected about {expected:,}"


@pytest.fixture(scope="module")
def meta_modules():
    return build_sd15_random_modules(device="meta")


def test_modules_on_meta_hold_no_weights(meta_modules):
    for name in ("unet", "vae", "text_encoder"):
        devices = {parameter.device.type for parameter in meta_modules[name].parameters()}
        assert devices == {"meta"}, f"{name} allocated weights on {devices}"


def test_unet_is_the_sd15_inpainting_unet(meta_modules):
    unet = meta_modules["unet"]
    assert_about(parameter_count(unet), REAL_UNET, "UNet")
    config = unet.config
    assert (config.in_channels, config.out_channels, config.sample_size) == (9, 4, 64)
    assert tuple(config.block_out_channels) == (320, 640, 1280, 1280)
    assert config.cross_attention_dim == CLIP_HIDDEN


def test_vae_is_the_sd15_autoencoder(meta_modules):
    vae = meta_modules["vae"]
    assert_about(parameter_count(vae), REAL_VAE, "VAE")
    assert vae.config.latent_channels == 4
    assert 2 ** (len(vae.config.block_out_channels) - 1) == 8  # the VAE factor the UNet's 64 latents assume


def test_text_encoder_is_clip_l_but_for_the_embedding_rows(meta_modules):
    encoder, tokenizer = meta_modules["text_encoder"], meta_modules["tokenizer"]
    missing_rows = CLIP_VOCABULARY - len(tokenizer)
    assert missing_rows > 0
    assert_about(parameter_count(encoder), REAL_TEXT_ENCODER - missing_rows * CLIP_HIDDEN, "text encoder")
    config = encoder.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert config.max_position_embeddings == tokenizer.model_max_length == 77
    assert config.hidden_act == "quick_gelu"


def test_sd15_random_is_a_built_in_name_at_512_px_and_20_steps():
    _, native_size, default_steps, _ = BUILT_IN_MODELS["sd15-random"]
    assert (native_size, default_steps) == (512, 20)


def test_an_unknown_model_name_lists_both_built_in_models():
    with pytest.raises(ValueError, match="nor a local folder") as caught:
        load_engine("not-a-model", device="cpu", progress=False)
    assert "'tiny-random'" in str(caught.value) and "'sd15-random'" in str(caught.value)


@pytest.mark.slow
def test_load_engine_builds_sd15_random_and_paints():
    """7 to 25 s and 4.4 GB of RAM on a 2-core CPU: build, then one 64x64 picture in 1 step."""
    with load_engine("sd15-random", device="cpu", steps=1, max_batch=1, progress=False) as engine:
        assert (engine.native_size, engine.steps) == (512, 1)
        assert parameter_count(engine.pipeline.unet) == REAL_UNET
        assert engine.pipeline.unet.dtype == torch.float32
        size = (64, 64)
        pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        mask = np.zeros((64, 64), dtype=np.uint8)
        mask[16:48, 16:48] = 255
        out = engine.inpaint(InpaintJob(Image.fromarray(pixels, "RGB"), Image.fromarray(mask, "L"), "a cat", None, 3))
    assert out.mode == "RGB" and out.size == size
    painted = np.asarray(out)
    assert np.array_equal(painted[mask == 0], pixels[mask == 0])
    # Random weights paint noise, but they do paint: not a flat fill (NaNs come out black)
    # and not the input.
    assert painted[mask == 255].std() > 5
    assert np.abs(painted[mask == 255].astype(int) - pixels[mask == 255]).mean() > 5
