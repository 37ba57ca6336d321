"""The probes themselves: what they plan to spend, the near-miss keys they send and how a user
replays them, the pictures they build, and the judgments they make across exchanges."""

from __future__ import annotations

import io
import math
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from inpaint_conformance.contracts import Api, Outcome, ResponseVerdict
from inpaint_conformance.contracts.images import encode_image, has_alpha, psnr, region_psnr, to_rgb
from inpaint_conformance.contracts.rules import effective_mask
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.probe_checks import ignored_other_size_mask
from inpaint_conformance.harness.probe_images import (
    in_mode,
    patterned,
    png16,
    with_alpha,
    with_palette_alpha,
)
from inpaint_conformance.harness.probes import valid_spec
from inpaint_conformance.harness.probes_shapes import INPUT_MODES, _mode_image
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.runner import Runner
from inpaint_conformance.harness.target import EMBEDDED_KEYS, WRONG_KEY, EmbeddedTarget

# Probes whose requests a server may refuse (B1 non-UTF-8 text, B2 uploads, B4 limits, A13's empty
# seed): the fake refuses some of them, so they may spend less than they plan.
MAY_BE_REFUSED = {"malformed_input", "limits", "upload_limit", "seed_edges"}
# The state machine caps its successes only on a remote server; the embedded fake's credits cost nothing.
UNCAPPED_IN_PROCESS = {"credits_sequences"}


class CountingRunner(Runner):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.successes: dict[str, int] = {}

    def finish(self, exchange):  # every exchange ends here, those sent one by one and those sent at once
        super().finish(exchange)
        if exchange.succeeded:
            self.successes[self.current_probe] = self.successes.get(self.current_probe, 0) + 1


@pytest.mark.parametrize("api", list(Api))
def test_each_probe_plans_the_successes_it_gets_from_a_correct_server(api):
    """`verify` prints the credits a run costs before sending anything (A17): from these declarations."""
    target = EmbeddedTarget(inject_429=False)
    runner = CountingRunner(
        target, api, examples=2, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key="w")
    )
    runner.run()
    from inpaint_conformance.harness.probe_registry import probes_for

    for definition in probes_for(api):
        planned, got = definition.planned_successes(2), runner.successes.get(definition.name, 0)
        if definition.name in UNCAPPED_IN_PROCESS:
            continue
        if definition.name in MAY_BE_REFUSED:
            assert got <= planned, definition.name
        else:
            assert got == planned, (definition.name, planned, got)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
@pytest.mark.parametrize(
    "api, role, header, sent",
    [
        (Api.AITHRIVING, "near-miss-suffixed", "authorization", "Key-0123ax"),
        (Api.AITHRIVING, "near-miss-case", "authorization", "kEY-0123A"),
        (Api.VYRO, "near-miss-truncated", "bearer", "Key-0123"),
        (Api.VYRO, "near-miss-prefixed", "bearer", "xKey-0123a"),
        (Api.VYRO, "authorization-bearer-wrong", "authorization", f"Bearer {WRONG_KEY}"),
    ],
)
def test_a_reproducer_sends_the_same_near_miss_from_the_variable_never_the_key(api, role, header, sent, tmp_path):
    """The curl line, run by curl, reads $AIT_API_KEY / $VYRO_TOKEN and changes it as the probe did."""

    async def echo(request):
        return PlainTextResponse(request.headers.get(header, ""))

    app = Starlette(
        routes=[Route(path, echo, methods=["POST"]) for path in ("/api/edit/inpaint", "/v1/imagine/api/edits/inpaint")]
    )
    target = EmbeddedTarget(inject_429=False)
    runner = Runner(target, api, examples=0, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key=WRONG_KEY))
    runner.current_probe = "unit"
    exchange = runner.send(valid_spec().but(auth=role))
    with serving(app) as server:
        command = Reproducer(server.url, tmp_path, wrong_key=WRONG_KEY).command(exchange).splitlines()[0]
        assert EMBEDDED_KEYS["main"] not in command
        variable = "AIT_API_KEY" if api is Api.AITHRIVING else "VYRO_TOKEN"
        env = {"PATH": "/usr/bin:/bin", variable: "Key-0123a"}
        answer = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=30)
    assert answer.stdout == sent


# -- pictures ------------------------------------------------------------------------------------
def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_sixteen_bit_pngs_hold_the_picture_in_their_high_bytes():
    picture = patterned()
    grey, rgb = decoded(png16(picture, grey=True)), decoded(png16(picture, grey=False))
    assert grey.mode == "I;16" and np.array_equal(np.asarray(grey) >> 8, np.asarray(picture.convert("L")))
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), np.asarray(picture))  # Pillow keeps the high byte


@pytest.mark.parametrize("mode, fmt", [("RGBA", "png"), ("RGBA", "webp"), ("LA", "png"), ("P", "png")])
def test_transparent_images_mark_exactly_the_half_to_repaint(mode, fmt):
    picture = patterned()
    image = with_palette_alpha(picture, "right") if mode == "P" else with_alpha(picture, "right", mode)
    sent = decoded(encode_image(image, fmt))
    assert has_alpha(sent)
    strength = np.asarray(effective_mask(sent, None))
    width = picture.width
    assert (strength[:, : width // 2] == 0).all() and (strength[:, width // 2 :] == 255).all()
    # The opaque half is the picture: exactly, or (a palette) in up to 255 of its colours.
    kept = np.asarray(to_rgb(sent))[:, : width // 2]
    if mode == "P":
        assert len(np.unique(kept.reshape(-1, 3), axis=0)) > 64
    else:
        reference = picture.convert("L").convert("RGB") if mode == "LA" else picture
        assert np.array_equal(kept, np.asarray(reference)[:, : width // 2])


def test_every_input_mode_is_sent_in_the_mode_it_names():
    modes = {label: decoded(_mode_image(label)).mode for label, _, _ in INPUT_MODES}
    assert modes == {
        "L-png": "L",
        "L-jpeg": "L",
        "P-png": "P",
        "LA-png": "LA",
        "CMYK-jpeg": "CMYK",
        "16bit-grey-png": "I;16",
        "16bit-rgb-png": "RGB",
    }
    assert in_mode(patterned(), "P").getcolors(256) is not None


# -- judgments across exchanges ----------------------------------------------------------------------
def answer(kept, repainted) -> ResponseVerdict:
    return ResponseVerdict(Outcome.SUCCESS, observations={"psnr_kept": kept, "psnr_repainted": repainted})


@pytest.mark.parametrize(
    "control, other, ignored",
    [
        (answer("inf", 9.0), answer("inf", 9.5), False),  # resized and applied: kept pixels kept
        (answer("inf", 9.0), answer(41.0, 9.5), False),  # a resize that blurs the edge: still kept
        (answer("inf", 9.0), answer(10.2, 9.1), True),  # the whole picture repainted
        (answer("inf", 9.0), answer("inf", "inf"), True),  # nothing repainted
        (answer(31.0, 9.0), answer(10.2, 9.1), False),  # same-size masks already leak (a SHOULD of its own)
        (answer(8.0, 30.0), answer(8.0, 30.0), False),  # masks read inverted everywhere: V7/A8's business
        (answer(None, None), answer(10.0, 9.0), False),  # nothing measured (lossy output)
    ],
)
def test_a_mask_of_another_size_is_judged_against_a_same_size_one(control, other, ignored):
    assert (ignored_other_size_mask(control, other) is not None) is ignored


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_region_psnr_is_psnr_over_the_region_pixels(mode):
    """The pixel judgments' PSNR, summed per pixel for speed, equals the plain formula over the region."""
    rng = np.random.default_rng(7)
    size = (97, 61)
    expected = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").convert(mode)
    actual = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    region = rng.random((size[1], size[0])) < 0.3
    plain = psnr(np.asarray(to_rgb(expected))[region], np.asarray(to_rgb(actual))[region])
    assert region_psnr(expected, actual, region) == pytest.approx(plain, rel=1e-12)
    assert region_psnr(expected, expected, region) == math.inf
    assert region_psnr(expected, actual, np.zeros_like(region)) == math.inf
