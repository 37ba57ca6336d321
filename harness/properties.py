"""Hypothesis-driven probes: many valid and invalid requests drawn from the rules' ranges.

Each property runs `--examples` requests, seeded by `--hypothesis-seed` so a run
replays. Nothing is shrunk and nothing raises: every example is one exchange whose
verdicts go to the tally like any other probe's, with its own curl reproducer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from inpaint_conformance.contracts import Api, strategies
from inpaint_conformance.contracts.images import SAFE_MIN_SIDE
from inpaint_conformance.contracts.rules import INPUT_FORMATS, OUTPUT_FORMATS, SEED_MAX, SEED_MIN

from .probes import PROMPT, RequestSpec, Upload, probe, upload, valid_spec
from .runner import Runner

MAX_SIDE_DRAWN = 160  # big enough for odd shapes, small enough to keep a run fast
# Modes whose pixels every library converts alike (A8's grey masks likewise): judged pixel by pixel.
# RGBA is left out: with a mask part, what colour a transparent pixel "is" is not decided. Palette
# images are probed by `probes_shapes.input_modes`; drawn here each would cost a median-cut quantize.
INPUT_MODES = ("RGB", "L")


def _run(ctx: Runner, strategy: st.SearchStrategy, check) -> None:
    if ctx.examples <= 0:
        return
    counter = iter(range(1, 10**9))

    @hypothesis_seed(ctx.hypothesis_seed)
    @settings(
        max_examples=ctx.examples,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def run_example(example) -> None:
        check(ctx, example, f"example-{next(counter)}")

    run_example()


@st.composite
def image_and_mask(draw, formats: frozenset[str]) -> dict[str, Upload]:
    """An image of any size, format and common mode, and a grey mask leaving both kept and repainted pixels.

    Sizes, pictures and masks come from the published strategies (`contracts.strategies`);
    the image is encoded as every probe encodes it (JPEG without chroma subsampling, so
    decoders agree on the kept pixels to +-1).
    """
    size = draw(strategies.image_sizes(SAFE_MIN_SIDE, MAX_SIDE_DRAWN))
    fmt = draw(st.sampled_from(sorted(formats)))
    mode = draw(st.sampled_from([m for m in INPUT_MODES if m in strategies.ENCODABLE_MODES[fmt]]))
    picture = strategies.picture(size, mode, draw(st.integers(0, 2**32 - 1)))
    mask = draw(strategies.masks(size, kinds=("grey",)))
    return {"image": upload(picture, fmt), "mask": upload(mask, "png", name="mask")}


@probe(Api.AITHRIVING, successes=lambda examples: examples)
def property_valid_requests(ctx: Runner) -> None:
    """Any seed in [1, 4294967294], size, input and output format: served, seed echoed, size kept."""
    strategy = st.fixed_dictionaries(
        {
            "files": image_and_mask(INPUT_FORMATS[Api.AITHRIVING]),
            "seed": st.integers(SEED_MIN + 1, SEED_MAX),
            "output_format": st.sampled_from(OUTPUT_FORMATS),
        }
    )

    def check(ctx: Runner, example: dict, label: str) -> None:
        spec = RequestSpec(
            {"prompt": PROMPT, "seed": str(example["seed"]), "output_format": example["output_format"]},
            example["files"],
        )
        ctx.send(spec, focus=("ait.image.formats",), label=label)

    _run(ctx, strategy, check)


non_integer_seeds = st.one_of(
    st.integers(max_value=SEED_MIN - 1).map(str),
    st.integers(min_value=SEED_MAX + 1, max_value=2**80).map(str),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()).map(repr),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
)


@probe(Api.AITHRIVING)
def property_refused_seeds(ctx: Runner) -> None:
    """Any seed outside [0, 4294967294] or not an integer: a failure, not charged."""

    def check(ctx: Runner, seed: str, label: str) -> None:
        ctx.send(valid_spec((64, 64)).but(seed=seed), label=label)

    _run(ctx, non_integer_seeds, check)


@probe(Api.VYRO, successes=lambda examples: examples, name="property_valid_requests")
def property_valid_requests_vyro(ctx: Runner) -> None:
    """Any size and input format with a box mask: a PNG of the input's size, kept pixels kept."""

    def check(ctx: Runner, files: dict[str, Upload], label: str) -> None:
        ctx.send(RequestSpec({"prompt": PROMPT}, files), focus=("vyro.image.formats",), label=label)

    _run(ctx, image_and_mask(INPUT_FORMATS[Api.VYRO]), check)
