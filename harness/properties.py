"""Hypothesis-driven probes: many valid and invalid requests drawn from the rules' ranges.

Each property runs `--examples` requests, seeded by `--hypothesis-seed` so a run
replays. Nothing is shrunk and nothing raises: every example is one exchange whose
verdicts go to the tally like any other probe's, with its own curl reproducer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.images import SAFE_MIN_SIDE
from inpaint_conformance.contracts.rules import INPUT_FORMATS, OUTPUT_FORMATS, SEED_MAX, SEED_MIN

from .probe_images import box_mask, patterned
from .probes import PROMPT, RequestSpec, probe, upload
from .runner import Runner

MAX_SIDE_DRAWN = 160  # big enough for odd shapes, small enough to keep a run fast
sides = st.integers(SAFE_MIN_SIDE, MAX_SIDE_DRAWN)


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
def shapes(draw, formats: frozenset[str]) -> dict:
    """An image size, its format, and a mask box that leaves both kept and repainted pixels."""
    width, height = draw(sides), draw(sides)
    left = draw(st.integers(0, width // 2 - 8))
    top = draw(st.integers(0, height // 2 - 8))
    right = draw(st.integers(left + 8, width - 4))
    bottom = draw(st.integers(top + 8, height - 4))
    return {
        "size": (width, height),
        "format": draw(st.sampled_from(sorted(formats))),
        "box": (left, top, right, bottom),
        "variant": draw(st.integers(0, 1)),
    }


def _files(shape: dict) -> dict:
    return {
        "image": upload(patterned(shape["size"], shape["variant"]), shape["format"]),
        "mask": upload(box_mask(shape["size"], shape["box"]), "png", name="mask"),
    }


@probe(Api.AITHRIVING, successes=lambda examples: examples)
def property_valid_requests(ctx: Runner) -> None:
    """Any seed in [1, 4294967294], size, input and output format: served, seed echoed, size kept."""
    strategy = st.fixed_dictionaries(
        {
            "shape": shapes(INPUT_FORMATS[Api.AITHRIVING]),
            "seed": st.integers(SEED_MIN + 1, SEED_MAX),
            "output_format": st.sampled_from(OUTPUT_FORMATS),
        }
    )

    def check(ctx: Runner, example: dict, label: str) -> None:
        spec = RequestSpec(
            {"prompt": PROMPT, "seed": str(example["seed"]), "output_format": example["output_format"]},
            _files(example["shape"]),
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
        spec = RequestSpec(
            {"prompt": PROMPT, "seed": seed},
            _files({"size": (64, 64), "format": "png", "box": (0, 0, 32, 64), "variant": 0}),
        )
        ctx.send(spec, label=label)

    _run(ctx, non_integer_seeds, check)


@probe(Api.VYRO, successes=lambda examples: examples, name="property_valid_requests")
def property_valid_requests_vyro(ctx: Runner) -> None:
    """Any size and input format with a box mask: a PNG of the input's size, kept pixels kept."""

    def check(ctx: Runner, shape: dict, label: str) -> None:
        ctx.send(RequestSpec({"prompt": PROMPT}, _files(shape)), focus=("vyro.image.formats",), label=label)

    _run(ctx, shapes(INPUT_FORMATS[Api.VYRO]), check)
