"""The reference engine's micro-batcher and pixel helpers, without torch.

These run everywhere (no 'reference' extra needed): the batching logic and the resizing
rules are plain Python, so their bugs should not hide behind a skipped torch test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint_conformance.reference_impl.batching import EngineClosedError, MicroBatcher
from inpaint_conformance.reference_impl.sizing import paste_back, to_working, working_size


class RecordingModel:
    """Stands in for the pipeline: records batch compositions, doubles numbers."""

    def __init__(self, delay_s: float = 0.02, poison: int | None = None) -> None:
        self.delay_s = delay_s
        self.poison = poison
        self.batches: list[list[tuple[str, int]]] = []
        self.threads: set[str] = set()

    def __call__(self, items):
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        time.sleep(self.delay_s)
        if self.poison is not None and any(value == self.poison for _, value in items):
            raise RuntimeError("poisoned request")
        return [value * 2 for _, value in items]


def submit_all(batcher: MicroBatcher, items: list[tuple[str, int]]) -> dict[tuple[str, int], object]:
    """Submit every item from its own thread, all released at once; item -> result or error."""
    results: dict[tuple[str, int], object] = {}
    barrier = threading.Barrier(len(items))

    def call(item):
        barrier.wait()
        try:
            results[item] = batcher.submit(item)
        except Exception as error:
            results[item] = error

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_requests_with_one_key_share_batches_of_at_most_max_batch():
    model = RecordingModel()
    batcher = MicroBatcher(model, key=lambda item: item[0], max_batch=4, wait_s=0.05)
    items = [("a", n) for n in range(10)]
    try:
        results = submit_all(batcher, items)
    finally:
        batcher.close()
    assert results == {item: item[1] * 2 for item in items}
    assert max(len(batch) for batch in model.batches) <= 4
    assert batcher.stats.largest_batch > 1, f"nothing was batched: {model.batches}"
    assert model.threads == {"micro-batcher"}, "only the worker thread may run the model"


def test_requests_with_different_keys_never_share_a_batch():
    model = RecordingModel()
    batcher = MicroBatcher(model, key=lambda item: item[0], max_batch=8, wait_s=0.05)
    items = [(key, n) for n in range(4) for key in ("small", "large")]
    try:
        results = submit_all(batcher, items)
    finally:
        batcher.close()
    assert results == {item: item[1] * 2 for item in items}
    for batch in model.batches:
        assert len({key for key, _ in batch}) == 1, f"mixed keys in one batch: {batch}"


def test_a_failing_request_does_not_fail_its_batch_mates():
    model = RecordingModel(poison=3)
    batcher = MicroBatcher(model, key=lambda item: item[0], max_batch=4, wait_s=0.05)
    items = [("a", n) for n in range(4)]
    try:
        results = submit_all(batcher, items)
    finally:
        batcher.close()
    assert isinstance(results[("a", 3)], RuntimeError)
    assert {item: results[item] for item in items if item[1] != 3} == {("a", n): n * 2 for n in (0, 1, 2)}


def test_two_clients_taking_turns_end_up_in_one_batch():
    # Each client resubmits as soon as it hears back; without waiting for company they
    # would alternate forever, one request per batch.
    model = RecordingModel(delay_s=0.02)
    batcher = MicroBatcher(model, key=lambda item: item[0], max_batch=4, wait_s=0.05)

    def client(offset: int) -> None:
        for n in range(offset, offset + 6):
            assert batcher.submit(("a", n)) == n * 2

    threads = [threading.Thread(target=client, args=(offset,)) for offset in (0, 100)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        batcher.close()
    assert batcher.stats.requests == 12
    assert batcher.stats.batches <= 8, f"the two clients rarely met: {model.batches}"


def test_a_lone_sequential_caller_does_not_wait_for_batch_mates():
    batcher = MicroBatcher(RecordingModel(delay_s=0), key=lambda item: item[0], max_batch=4, wait_s=0.5)
    try:
        started = time.monotonic()
        for n in range(5):
            assert batcher.submit(("a", n)) == n * 2
        elapsed = time.monotonic() - started
    finally:
        batcher.close()
    assert elapsed < 0.5, f"5 sequential calls took {elapsed:.2f} s; the 0.5 s batch wait was paid"


def test_submit_after_close_raises_a_clear_error():
    batcher = MicroBatcher(RecordingModel(), key=lambda item: item[0])
    batcher.close()
    batcher.close()  # idempotent
    with pytest.raises(EngineClosedError, match="closed"):
        batcher.submit(("a", 1))


@pytest.mark.parametrize(
    ("size", "native", "expected"),
    [
        ((101, 77), 128, (104, 80)),  # small: only snapped to multiples of 8
        ((130, 64), 128, (128, 64)),  # long side capped, aspect kept
        ((1024, 512), 512, (512, 256)),
        ((2000, 10), 512, (512, 8)),  # never below 8
        ((3, 3), 512, (8, 8)),
    ],
)
def test_working_size_is_a_multiple_of_8_capped_at_the_native_side(size, native, expected):
    assert working_size(size, native) == expected


def test_to_working_keeps_thin_and_faint_mask_strokes():
    mask = Image.new("L", (200, 100), 0)
    mask.paste(40, (50, 0, 51, 100))  # one faint column: a pipeline's 0.5 threshold would drop it
    image, small_mask = to_working(Image.new("RGB", (200, 100)), mask, (64, 32))
    assert image.size == small_mask.size == (64, 32)
    assert set(np.unique(np.asarray(small_mask))) == {0, 255}
    assert np.asarray(small_mask).max() == 255


def test_paste_back_keeps_mask_zero_exact_and_blends_partial_strength():
    original = Image.new("RGB", (10, 4), (200, 100, 0))
    generated = Image.new("RGB", (20, 8), (0, 100, 200))  # other size: resized first
    mask = Image.fromarray(np.array([[0] * 10, [255] * 10, [128] * 10, [0] * 10], dtype=np.uint8), "L")
    out = np.asarray(paste_back(original, mask, generated)).astype(int)
    assert (out[0] == (200, 100, 0)).all() and (out[3] == (200, 100, 0)).all()
    assert (out[1] == (0, 100, 200)).all()
    assert np.abs(out[2] - (100, 100, 100)).max() <= 1


def run_python(code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter that finds this checkout, installed or not."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)


def test_importing_the_package_does_not_import_torch():
    code = "import sys, reference_impl; assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    run = run_python(code)
    assert run.returncode == 0, run.stderr


def test_a_missing_extra_names_the_install_command():
    # sys.modules[name] = None makes "import name" fail, as on a machine without the extra.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import reference_impl\n"
        "try:\n"
        "    reference_impl.load_engine('tiny-random')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    run = run_python(code)
    assert run.returncode == 0, run.stderr
    assert "pip install 'inpaint-conformance[reference]'" in run.stdout
    assert "download.pytorch.org/whl/cpu" in run.stdout
