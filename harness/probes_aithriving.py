"""Example probes of the AIThriving API at the edges the decisions name (A1-A19).

Each probe sends requests built from one valid request, changing one thing, and
says which clauses it is about; the contracts decide what a correct answer is.
"""

from __future__ import annotations

from inpaint_conformance.contracts import Api, Expectation, Violation
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, INPUT_FORMATS, OUTPUT_FORMATS, SEED_MAX
from inpaint_conformance.contracts.sequences import check_random_seeds, check_reproducible, check_seed_sensitivity

from .credentials import describe_role
from .probe_checks import pictured, replay_reported_seed
from .probe_images import (
    ODD_SIZE,
    ROUND_SIZE,
    corrupt_png,
    half_mask,
    partial_mask,
    patterned,
    with_alpha,
    with_palette_alpha,
)
from .probes import FIXED_SEED, PROMPT, RequestSpec, probe, upload, valid_spec
from .runner import Runner

AIT = Api.AITHRIVING


@probe(AIT, successes=1)
def basic(ctx: Runner) -> None:
    ctx.send(valid_spec(), focus=("ait.transport.post", "ait.transport.multipart", "ait.auth.header"))


@probe(AIT, successes=2 * len(OUTPUT_FORMATS))
def output_formats(ctx: Runner) -> None:
    """Each output format with a random seed, then its reported seed sent back: echoed, same picture (A11, A14-A16)."""
    for fmt in OUTPUT_FORMATS:
        spec = valid_spec(output_format=fmt)
        first = ctx.send(spec, focus=("ait.output_format.honoured",), label=fmt)
        replay_reported_seed(ctx, first, spec, label=f"{fmt}-replayed")


@probe(AIT, successes=len(INPUT_FORMATS[AIT]))
def input_formats(ctx: Runner) -> None:
    for fmt in sorted(INPUT_FORMATS[AIT]):
        ctx.send(valid_spec(fmt=fmt), focus=("ait.image.formats",), label=fmt)


@probe(AIT, successes=2)
def odd_sizes(ctx: Runner) -> None:
    for size in (ODD_SIZE, (ODD_SIZE[1], ODD_SIZE[0] + 30)):
        ctx.send(valid_spec(size), focus=("ait.output.size",), label="x".join(map(str, size)))


@probe(AIT, successes=2)
def format_from_bytes(ctx: Runner) -> None:
    """The Vyro SDK's way, here too: PNG bytes labelled image.jpeg, and JPEG bytes labelled PNG."""
    spec = valid_spec()
    png_as_jpeg = upload(patterned(ROUND_SIZE), "png", filename="image.jpeg", content_type="image/jpeg")
    ctx.send(spec.but(files={"image": png_as_jpeg}), focus=("ait.image.sniffed",), label="png-named-jpeg")
    jpeg_as_png = upload(patterned(ROUND_SIZE), "jpeg", filename="image.png", content_type="image/png")
    ctx.send(spec.but(files={"image": jpeg_as_png}), focus=("ait.image.sniffed",), label="jpeg-named-png")


@probe(AIT, successes=1)
def negative_prompt(ctx: Runner) -> None:
    ctx.send(valid_spec(negative_prompt="blurry, low quality, text"), focus=("ait.negative_prompt.optional",))


@probe(AIT, successes=3)  # the empty seed may be served as if omitted (A13)
def seed_edges(ctx: Runner) -> None:
    """Seeds at both ends of [0, 4294967294] are echoed; just outside, or not integers, fail uncharged.

    An empty field is the server's choice (A13): refused uncharged, or a random seed charged
    like any success; a blank one (a space) is no integer.
    """
    for seed in ("1", str(SEED_MAX)):
        ctx.send(valid_spec(seed=seed), focus=("ait.seed.echo",), label=seed)
    for seed in ("-1", str(SEED_MAX + 1), "1.5", "abc", " "):
        ctx.send(valid_spec(seed=seed), label=seed.strip() or "blank")
    ctx.send(valid_spec(seed=""), label="empty")


@probe(AIT, successes=4)
def random_seeds(ctx: Runner) -> None:
    """Seed omitted or 0: the server picks a replayable seed, a different one each time; seed 0's is replayed."""
    seeds = []
    exchange = None
    for label, spec in (("omitted", valid_spec()), ("omitted-again", valid_spec()), ("0", valid_spec(seed="0"))):
        exchange = ctx.send(spec, focus=("ait.seed.random_range",), label=label)
        success = exchange.success
        if success is not None and success.seed is not None:
            seeds.append(success.seed)
    assert exchange is not None
    # Seed 0 and no seed may take different paths through a server: the one sent as 0 is replayed too.
    replay_reported_seed(ctx, exchange, valid_spec(seed="0"), label="0-replayed")
    if len(seeds) < 2:
        ctx.skip("ait.seed.random_differs", "fewer than two requests with a random seed succeeded")
        return
    found = check_random_seeds(seeds)
    for violation in found:
        ctx.violate(violation, exchange)
    if not any(v.clause == "ait.seed.random_differs" for v in found):
        ctx.exercise("ait.seed.random_differs", f"{len(set(seeds))} different seeds in {len(seeds)} requests")


@probe(AIT, successes=2 * len(OUTPUT_FORMATS))
def reproducible(ctx: Runner) -> None:
    """A16 in every output format: lossy ones compared by PSNR (identical bytes are not required of them)."""
    for fmt in OUTPUT_FORMATS:
        spec = valid_spec(seed=FIXED_SEED, output_format=fmt)
        first, second = ctx.send(spec, label=f"{fmt}-first"), ctx.send(spec, label=f"{fmt}-second")
        one, two = pictured(first), pictured(second)
        if one is None or two is None:
            ctx.skip(
                "ait.reproducible",
                f"the two {fmt} requests with the same seed did not both succeed with a decodable image",
            )
            continue
        violation = check_reproducible(AIT, one, two, int(FIXED_SEED))
        if violation:
            ctx.violate(Violation(violation.clause, f"{fmt} output: {violation.message}"), second)
        else:
            same = one.image_bytes == two.image_bytes
            ctx.exercise(
                "ait.reproducible",
                f"seed {FIXED_SEED} twice, {fmt}: {'identical bytes' if same else 'same picture'}",
                first,
                second,
            )


@probe(AIT, successes=2)
def seed_sensitivity(ctx: Runner) -> None:
    """A21: the same request with two different non-zero seeds repaints two different pictures."""
    other = str(int(FIXED_SEED) + 1)
    spec = valid_spec(output_format="png")
    first = ctx.send(spec.but(seed=FIXED_SEED), label=f"seed-{FIXED_SEED}")
    second = ctx.send(spec.but(seed=other), label=f"seed-{other}")
    one, two = pictured(first), pictured(second)
    if one is None or two is None:
        ctx.skip(
            "ait.seed.sensitivity", "the two requests with different seeds did not both succeed with a decodable image"
        )
        return
    mask = second.verdict.request.strength_mask()
    violation = check_seed_sensitivity(AIT, one, two, mask, (int(FIXED_SEED), int(other)))
    if violation:
        ctx.violate(violation, second)
    else:
        ctx.exercise("ait.seed.sensitivity", f"seeds {FIXED_SEED} and {other} repainted differently", first, second)


# (label, format, how the image carries its transparency, which half is transparent)
ALPHA_IMAGES = (
    ("png-rgba-left", "png", "RGBA", "left"),
    ("png-rgba-right", "png", "RGBA", "right"),
    ("webp-rgba-left", "webp", "RGBA", "left"),
    ("webp-rgba-right", "webp", "RGBA", "right"),
    ("png-la", "png", "LA", "right"),
    ("png-palette-trns", "png", "P", "left"),
)


@probe(AIT, successes=len(ALPHA_IMAGES))
def mask_from_alpha(ctx: Runner) -> None:
    """No mask part: transparency is repainted, in every format and mode that carries it (A6, A9).

    PNG and WebP are mirrored with one seed, so a server ignoring the alpha channel cannot
    pass both by luck of the fill; grey-with-alpha (LA) and a palette with a transparent
    entry (tRNS) are the modes a server reading only RGBA misses.
    """
    for label, fmt, mode, transparent in ALPHA_IMAGES:
        image = patterned(ROUND_SIZE)
        image = with_palette_alpha(image, transparent) if mode == "P" else with_alpha(image, transparent, mode)
        spec = RequestSpec({"prompt": PROMPT, "seed": FIXED_SEED}, {"image": upload(image, fmt)})
        ctx.send(
            spec,
            focus=("ait.mask.optional", "ait.mask.alpha"),
            label=label,
        )


@probe(AIT, successes=1)
def mask_wins_over_alpha(ctx: Runner) -> None:
    """An RGBA image whose alpha keeps everything, and a mask part repainting the right half.

    If the alpha won, nothing would be repainted. The alpha is opaque on purpose: what
    colour a transparent pixel "is" is not decided, so no kept pixel here is transparent.
    """
    image = patterned(ROUND_SIZE).convert("RGBA")
    spec = valid_spec().but(files={"image": upload(image, "png")})
    ctx.send(spec, focus=("ait.mask.wins",))


@probe(AIT, successes=2)
def mask_variants(ctx: Runner) -> None:
    spec = valid_spec()
    colour = half_mask(ROUND_SIZE, "right", mode="RGB")
    ctx.send(spec.but(files={"mask": upload(colour, "png", name="mask")}), focus=("ait.mask.colour",), label="rgb")
    ctx.send(
        spec.but(files={"mask": upload(partial_mask(ROUND_SIZE), "png", name="mask")}),
        focus=("ait.mask.partial",),
        label="partial",
    )


@probe(AIT, successes=2)
def mask_formats(ctx: Runner) -> None:
    """A6/A8: a mask is an image like the image part; a JPEG or WebP mask is as good as a PNG one."""
    for fmt in ("jpeg", "webp"):
        mask = upload(half_mask(ROUND_SIZE), fmt, name="mask")
        ctx.send(valid_spec().but(files={"mask": mask}), focus=("ait.mask.format",), label=fmt)


@probe(AIT)
def mask_refusals(ctx: Runner) -> None:
    spec = valid_spec()
    ctx.send(spec.but(drop=("mask",)), label="no-mask-no-alpha")  # A9: neither a mask nor alpha
    gif = upload(half_mask(ROUND_SIZE), "gif", name="mask")
    ctx.send(spec.but(files={"mask": gif}), label="gif-mask")
    ctx.send(spec.but(files={"mask": upload(corrupt_png(), "png", name="mask")}), label="corrupt-mask")
    ctx.send(spec.but(files={"mask": upload(b"", "png", name="mask")}), label="empty-mask")


@probe(AIT)
def image_refusals(ctx: Runner) -> None:
    spec = valid_spec()
    for fmt in ("gif", "bmp"):
        ctx.send(spec.but(files={"image": upload(patterned(ROUND_SIZE), fmt)}), label=fmt)
    ctx.send(spec.but(files={"image": upload(corrupt_png(), "png")}), label="corrupt")
    ctx.send(spec.but(files={"image": upload(b"", "png")}), label="empty")


@probe(AIT)
def required_parts(ctx: Runner) -> None:
    spec = valid_spec()
    ctx.send(spec.but(drop=("image",)), label="no-image")
    ctx.send(spec.but(drop=("prompt",)), label="no-prompt")
    ctx.send(spec.but(prompt=""), label="empty-prompt")
    ctx.send(spec.but(prompt="   "), label="blank-prompt")


@probe(AIT)
def output_format_enum(ctx: Runner) -> None:
    for value in ("gif", "tiff"):
        ctx.send(valid_spec(output_format=value), label=value)


@probe(AIT)
def credentials(ctx: Runner) -> None:
    """Missing, unknown and near-miss keys: the failure envelope, HTTP 200 or 4xx, the main key not charged (A2)."""
    # validate_response judges ait.auth.status on each (the HTTP status of an auth failure).
    ctx.send(valid_spec().but(auth="none"), focus=("ait.auth.status",), watch_balance="main", label="none")
    for role in ("wrong", *ctx.near_miss_roles()):
        unknown = Violation("ait.auth.invalid", f"{describe_role(role)}: a key the server does not know")
        ctx.send(
            valid_spec().but(auth=role),
            expect=Expectation.failure(unknown),
            focus=("ait.auth.status",),
            watch_balance="main",
            label=role,
        )


@probe(AIT, successes=1)
def unknown_fields(ctx: Runner) -> None:
    ctx.send(valid_spec(style="vivid", client_version="9.9"), expect="any", focus=("ait.unknown_fields",))


@probe(AIT)
def credits_insufficient(ctx: Runner) -> None:
    if not ctx.credits_observable:
        return  # the runner explains: no --credits-url
    if not ctx.has_key("low"):
        ctx.skip("ait.credits.insufficient", *ctx.target.missing_key("low"))
        return
    balance = ctx.balance("low")
    if balance is None or balance >= CREDITS_PER_SUCCESS:
        ctx.skip(
            "ait.credits.insufficient",
            f"the low-credit key has {balance} credits; it needs fewer than {CREDITS_PER_SUCCESS}",
        )
        return
    poor = Violation(
        "ait.credits.insufficient",
        f"the key has {balance} credits, fewer than the {CREDITS_PER_SUCCESS} a result costs",
    )
    ctx.send(valid_spec().but(auth="low"), expect=Expectation.failure(poor))


@probe(AIT, successes=1)
def credits_isolation(ctx: Runner) -> None:
    if not ctx.credits_observable:
        return
    if not ctx.has_key("second"):
        ctx.skip("ait.credits.isolation", *ctx.target.missing_key("second"))
        return
    before = ctx.balance("second")
    exchange = ctx.send(valid_spec())
    after = ctx.balance("second")
    if before is None or after is None or not exchange.succeeded:
        ctx.skip("ait.credits.isolation", "the second key's balance or the charged request was not observable")
        return
    if after != before:
        ctx.violate(
            Violation(
                "ait.credits.isolation",
                f"a success with the first key moved the second key's balance {before} -> {after}",
            ),
            exchange,
        )
    else:
        ctx.exercise("ait.credits.isolation", "a success charged only the key that sent it")
