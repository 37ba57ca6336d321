"""Example probes of the Vyro Imagine API at the edges the decisions name (V1-V9)."""

from __future__ import annotations

from inpaint_conformance.contracts import Api, Expectation, Violation
from inpaint_conformance.contracts.rules import INPUT_FORMATS, VYRO_MODEL_VERSIONS

from .credentials import describe_role
from .probe_images import ODD_SIZE, ROUND_SIZE, corrupt_png, half_mask, partial_mask, patterned
from .probes import probe, upload, valid_spec
from .runner import Runner

VYRO = Api.VYRO


@probe(VYRO, successes=1)
def basic(ctx: Runner) -> None:
    ctx.send(
        valid_spec(),
        focus=(
            "vyro.transport.post",
            "vyro.transport.multipart",
            "vyro.auth.header",
            "vyro.model_version.default",
            "vyro.mask.formats",
        ),
    )


@probe(VYRO, successes=len(INPUT_FORMATS[VYRO]))
def input_formats(ctx: Runner) -> None:
    for fmt in sorted(INPUT_FORMATS[VYRO]):
        ctx.send(valid_spec(fmt=fmt), focus=("vyro.image.formats",), label=fmt)


@probe(VYRO, successes=1)
def jpeg_mask(ctx: Runner) -> None:
    mask = upload(half_mask(ROUND_SIZE), "jpeg", name="mask")
    ctx.send(valid_spec().but(files={"mask": mask}), focus=("vyro.mask.formats",))


@probe(VYRO, successes=2)
def odd_sizes(ctx: Runner) -> None:
    for size in (ODD_SIZE, (ODD_SIZE[1], ODD_SIZE[0] + 30)):
        ctx.send(valid_spec(size), focus=("vyro.output.size",), label="x".join(map(str, size)))


@probe(VYRO, successes=2)
def format_from_bytes(ctx: Runner) -> None:
    """The official SDK labels every upload image/jpeg named image.jpeg, whatever it holds."""
    spec = valid_spec()
    png_as_jpeg = upload(patterned(ROUND_SIZE), "png", filename="image.jpeg", content_type="image/jpeg")
    mask_as_jpeg = upload(half_mask(ROUND_SIZE), "png", filename="image.jpeg", content_type="image/jpeg")
    ctx.send(
        spec.but(files={"image": png_as_jpeg, "mask": mask_as_jpeg}), focus=("vyro.image.sniffed",), label="sdk-labels"
    )
    jpeg_as_png = upload(patterned(ROUND_SIZE), "jpeg", filename="image.png", content_type="image/png")
    ctx.send(spec.but(files={"image": jpeg_as_png}), focus=("vyro.image.sniffed",), label="jpeg-named-png")


@probe(VYRO, successes=len(VYRO_MODEL_VERSIONS))
def model_versions(ctx: Runner) -> None:
    for version in VYRO_MODEL_VERSIONS:
        ctx.send(valid_spec(model_version=version), focus=("vyro.model_version.default",), label=version)
    ctx.send(valid_spec(model_version="no-such-model-version"), label="unknown")


@probe(VYRO, successes=2)
def mask_variants(ctx: Runner) -> None:
    ctx.send(valid_spec(repaint="left"), focus=("vyro.mask.meaning",), label="repaint-left")
    partial = upload(partial_mask(ROUND_SIZE), "png", name="mask")
    ctx.send(valid_spec().but(files={"mask": partial}), focus=("vyro.mask.partial",), label="partial")


@probe(VYRO)
def image_refusals(ctx: Runner) -> None:
    spec = valid_spec()
    for fmt in ("webp", "gif", "bmp"):
        ctx.send(spec.but(files={"image": upload(patterned(ROUND_SIZE), fmt)}), label=fmt)
    ctx.send(spec.but(files={"image": upload(corrupt_png(), "png")}), label="corrupt")
    ctx.send(spec.but(files={"image": upload(b"", "png")}), label="empty")


@probe(VYRO)
def mask_refusals(ctx: Runner) -> None:
    spec = valid_spec()
    for fmt in ("webp", "gif"):
        ctx.send(spec.but(files={"mask": upload(half_mask(ROUND_SIZE), fmt, name="mask")}), label=fmt)
    ctx.send(spec.but(files={"mask": upload(corrupt_png(), "png", name="mask")}), label="corrupt")
    ctx.send(spec.but(files={"mask": upload(b"", "png", name="mask")}), label="empty")


@probe(VYRO, successes=1)  # the empty prompt may be served
def required_parts(ctx: Runner) -> None:
    spec = valid_spec()
    for part in ("prompt", "image", "mask"):
        ctx.send(spec.but(drop=(part,)), label=f"no-{part}")
    # V4 requires the part, not text in it: an empty prompt may be served or refused (FastAPI's
    # Form(...) reads "" as missing), but never with a 5xx.
    ctx.send(spec.but(prompt=""), expect="any", focus=("vyro.prompt.required",), label="empty-prompt")


@probe(VYRO, successes=1)
def credentials(ctx: Runner) -> None:
    """V2: 401 for no token, a made-up one (either header), and near misses of the real one."""
    ctx.send(valid_spec().but(auth="none"), label="none")
    for role in ("wrong", *ctx.near_miss_roles(), "authorization-bearer-wrong"):
        wrong = Violation("vyro.auth.invalid", f"{describe_role(role)}: a token the server does not know")
        ctx.send(valid_spec().but(auth=role), expect=Expectation.failure(wrong), label=role)
    # V2 allows either answer to `Authorization: Bearer`; a 401 is as good as a success.
    ctx.send(
        valid_spec().but(auth="authorization-bearer"),
        expect="any",
        focus=("vyro.auth.authorization_bearer",),
        label="authorization-bearer",
    )


@probe(VYRO, successes=1)
def unknown_fields(ctx: Runner) -> None:
    ctx.send(valid_spec(style="vivid", client_version="9.9"), expect="any", focus=("vyro.unknown_fields",))
