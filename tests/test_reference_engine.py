"""The reference engine on the tiny random pipeline: offline, CPU, a few seconds.

Skips as a whole, with the reason shown, where the 'reference' extra is not installed.
"""

from __future__ import annotations

import os

# Before diffusers/huggingface_hub are imported: they read the flag once, at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import threading

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the 'reference' extra (torch) is not installed")
pytest.importorskip("diffusers", reason="the 'reference' extra (diffusers) is not installed")

from inpaint_conformance.fakes.engine import Engine, InpaintJob  # noqa: E402
from inpaint_conformance.reference_impl import load_engine  # noqa: E402
from inpaint_conformance.reference_impl.batching import EngineClosedError  # noqa: E402
from inpaint_conformance.reference_impl.tiny import build_tiny_random_pipeline, save_tiny_random  # noqa: E402

pytestmark = pytest.mark.reference

# Batch invariance is exact in the noise (one generator per request) but not in the
# arithmetic: oneDNN/MKL pick other kernels for batch 1 than for batch >= 2, and results
# also move with the memory alignment of the weights (a reloaded model), so floats differ
# by ~1e-5 and, after uint8 rounding, about 1 value in 20,000 moves by one level.
MAX_LEVEL_DIFFERENCE = 1
MAX_DIFFERENT_FRACTION = 0.002


def noise_image(size: tuple[int, int], seed: int) -> Image.Image:
    width, height = size
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def box_mask(size: tuple[int, int], partial_rows: int = 0) -> Image.Image:
    """255 in a central box, 0 around it, and optionally a few rows of strength 128 at the top."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    mask[:partial_rows] = 128
    return Image.fromarray(mask, "L")


def job(size=(96, 64), seed=7, prompt="a red house", negative_prompt=None, image_seed=0) -> InpaintJob:
    return InpaintJob(noise_image(size, image_seed), box_mask(size), prompt, negative_prompt, seed)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def assert_same_up_to_rounding(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Equal but for last-bit float noise: at most one level, in a tiny fraction of values."""
    difference = np.abs(got - expected)
    assert difference.max() <= MAX_LEVEL_DIFFERENCE, f"{what}: max difference {difference.max()} levels"
    assert (difference > 0).mean() <= MAX_DIFFERENT_FRACTION, f"{what}: {(difference > 0).mean():.4%} of values differ"


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """One intra-op thread: on a busy 2-core CI box, OpenMP threads that wait for each other
    at every op barrier make the tiny model 5-10x slower and erratic; one thread is steady."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def engine():
    with load_engine("tiny-random", device="cpu", progress=False, max_batch=4) as tiny:
        yield tiny


def test_tiny_random_builds_offline_with_the_inpainting_shapes():
    pipeline = build_tiny_random_pipeline()
    assert pipeline.unet.config.in_channels == 9  # 4 latent + 4 masked-image latent + 1 mask
    assert pipeline.unet.config.cross_attention_dim == 32
    assert pipeline.vae.config.latent_channels == 4
    assert pipeline.text_encoder.config.hidden_size == 32
    assert pipeline.safety_checker is None
    ids = pipeline.tokenizer("the cat").input_ids
    tokens = pipeline.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "<|startoftext|>" and tokens[-1] == "<|endoftext|>"
    assert "the</w>" in tokens, f"the merges were not applied: {tokens}"
    again = build_tiny_random_pipeline()
    for (name, first), (_, second) in zip(
        pipeline.unet.state_dict().items(), again.unet.state_dict().items(), strict=True
    ):
        assert torch.equal(first, second), f"tiny weights are not reproducible: {name}"


def test_engine_meets_the_seam(engine):
    assert isinstance(engine, Engine)
    assert engine.name == "reference"


def test_same_seed_same_picture_other_seed_other_picture(engine):
    first = pixels(engine.inpaint(job(seed=11)))
    assert np.array_equal(first, pixels(engine.inpaint(job(seed=11))))
    other = pixels(engine.inpaint(job(seed=12)))
    assert np.abs(first - other).max() > 10


def test_negative_prompt_changes_the_picture(engine):
    plain = pixels(engine.inpaint(job(negative_prompt=None)))
    assert np.array_equal(plain, pixels(engine.inpaint(job(negative_prompt=""))))  # None means ""
    assert not np.array_equal(plain, pixels(engine.inpaint(job(negative_prompt="blurry"))))


@pytest.mark.parametrize("size", [(101, 77), (130, 64), (64, 130), (9, 9)])
def test_output_has_the_input_size_whatever_it_is(engine, size):
    out = engine.inpaint(job(size=size))
    assert out.mode == "RGB" and out.size == size
    width, height = engine.working_size(size)
    assert width % 8 == 0 and height % 8 == 0 and max(width, height) <= engine.native_size


def test_mask_zero_pixels_are_the_input_pixels_exactly(engine):
    size = (101, 77)
    request = InpaintJob(noise_image(size, 3), box_mask(size, partial_rows=4), "a cat", None, 5)
    out, original, mask = pixels(engine.inpaint(request)), pixels(request.image), np.asarray(request.mask)
    assert np.array_equal(out[mask == 0], original[mask == 0])
    # Where it repaints, it really paints (noise input versus a generated picture).
    assert np.abs(out[mask == 255] - original[mask == 255]).mean() > 20
    # Partial strength blends: the top rows lie between the original and the generated values.
    assert np.abs(out[:4] - original[:4]).mean() > 5


def test_batched_requests_get_the_pixels_they_would_get_alone():
    requests = [
        job(seed=100 + n, prompt=prompt, negative_prompt=negative, image_seed=n)
        for n, (prompt, negative) in enumerate(
            [("a cat", None), ("the red house", "blurry"), ("", None), ("zebra on grass", "ugly")]
        )
    ]
    # A long batch window so the four threads surely meet in one batch even on a busy CI box.
    with load_engine("tiny-random", device="cpu", progress=False, max_batch=4, batch_wait_s=0.5) as engine:
        alone = [pixels(engine.inpaint(request)) for request in requests]
        assert engine.stats.largest_batch == 1

        together: dict[int, np.ndarray] = {}
        barrier = threading.Barrier(len(requests))

        def call(index: int) -> None:
            barrier.wait()
            together[index] = pixels(engine.inpaint(requests[index]))

        threads = [threading.Thread(target=call, args=(index,)) for index in range(len(requests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert engine.stats.largest_batch > 1, "the concurrent requests were never batched"

    for index, expected in enumerate(alone):
        assert_same_up_to_rounding(together[index], expected, f"request {index} batched versus alone")


def test_concurrent_requests_of_different_sizes_each_get_their_own_size(engine):
    sizes = [(96, 64), (64, 96), (96, 64), (120, 40)]
    results: dict[int, Image.Image] = {}

    def call(index: int) -> None:
        results[index] = engine.inpaint(job(size=sizes[index], seed=index + 1))

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(sizes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {index: image.size for index, image in results.items()} == dict(enumerate(sizes))


def test_inpaint_batch_paints_each_job_as_inpaint_would(engine):
    jobs = [job(size=(96, 64), seed=31), job(size=(64, 96), seed=32), job(size=(96, 64), seed=33)]
    together = engine.inpaint_batch(jobs)
    assert [image.size for image in together] == [(96, 64), (64, 96), (96, 64)]
    for index, (request, image) in enumerate(zip(jobs, together, strict=True)):
        assert_same_up_to_rounding(pixels(image), pixels(engine.inpaint(request)), f"job {index}")


def test_a_saved_tiny_model_loads_offline_from_its_folder(tmp_path, engine):
    folder = save_tiny_random(tmp_path / "tiny")
    assert (folder / "model_index.json").is_file()
    with load_engine(str(folder), device="cpu", steps=2, progress=False) as reloaded:
        assert reloaded.native_size == 128
        request = job(seed=21)
        assert_same_up_to_rounding(
            pixels(reloaded.inpaint(request)), pixels(engine.inpaint(request)), "reloaded versus built in memory"
        )


def test_an_unknown_model_name_says_what_to_pass_instead():
    built_in = r"neither a built-in model \('tiny-random', 'sd15-random'\) nor a local folder"
    with pytest.raises(ValueError, match=built_in) as caught:
        load_engine("not-a-model", device="cpu", progress=False)
    assert "save_pretrained" in str(caught.value)


def test_a_folder_that_is_not_a_pipeline_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model_index.json"):
        load_engine(str(tmp_path), device="cpu", progress=False)


def test_inpaint_after_close_raises():
    engine = load_engine("tiny-random", device="cpu", progress=False)
    engine.close()
    with pytest.raises(EngineClosedError):
        engine.inpaint(job())


@pytest.mark.gpu
def test_on_cuda_in_half_precision():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    with load_engine("tiny-random", device="cuda", dtype="float16", progress=False) as gpu:
        assert gpu.device.type == "cuda"
        request = job(size=(101, 77), seed=3)
        first = gpu.inpaint(request)
        assert first.size == (101, 77)
        assert np.array_equal(pixels(first), pixels(gpu.inpaint(request)))
        mask = np.asarray(request.mask)
        assert np.array_equal(pixels(first)[mask == 0], pixels(request.image)[mask == 0])
