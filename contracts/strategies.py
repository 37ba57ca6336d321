"""Hypothesis strategies for both inpaint APIs: images, masks, seeds and whole requests.

Composable building blocks for property tests of clients, servers and of the
contracts themselves::

    from hypothesis import given
    from inpaint_conformance.contracts import validate_request
    from inpaint_conformance.contracts.strategies import invalid_requests, valid_requests

    @given(valid_requests("aithriving"))
    def test_accepted(request):
        assert validate_request("aithriving", request).acceptable

    @given(invalid_requests("vyro"))
    def test_refused_for_its_reason(labelled):
        request, clause_id = labelled
        assert {v.clause for v in validate_request("vyro", request).refused} == {clause_id}

Images are real encoded files, 64 to 256 px a side (odd and round sizes): inside
what every server must serve (B4), small enough to keep examples fast. Requests
are neutral `contracts.HttpRequest`s whose multipart body is encoded by `requests`,
the library both documents' examples use, so the bytes are what a real client sends.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import requests
from hypothesis import strategies as st
from PIL import Image

from .clauses import Api
from .exchange import HttpRequest
from .images import SAFE_MIN_SIDE, sniff_format
from .rules import (
    AUTH_HEADER,
    INPUT_FORMATS,
    MAX_PROMPT_CHARS,
    OUTPUT_FORMATS,
    PATHS,
    PROVIDER_HOSTS,
    SEED_MAX,
    SEED_MIN,
    VYRO_MODEL_VERSIONS,
)
from .rules import MEDIA_TYPES as DOCUMENTED_MEDIA_TYPES

# Largest side the strategies draw: big enough for odd sizes, small enough to stay fast.
MAX_DRAWN_SIDE = 256
ROUND_SIZES = ((64, 64), (128, 128), (128, 96), (256, 128), (256, 256))
ODD_SIZES = ((101, 77), (77, 101), (65, 255), (99, 99))
# Pillow modes each format can hold without a silent conversion.
ENCODABLE_MODES: dict[str, tuple[str, ...]] = {
    "png": ("RGB", "RGBA", "L", "P"),
    "jpeg": ("RGB", "L"),
    "webp": ("RGB", "RGBA"),
    "gif": ("P", "L"),
    "bmp": ("RGB", "L", "P"),
}
MEDIA_TYPES = {**DOCUMENTED_MEDIA_TYPES, "gif": "image/gif", "bmp": "image/bmp"}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "png": {},
    "jpeg": {"quality": 90},
    "webp": {"lossless": True},
    "gif": {},
    "bmp": {},
}
MASK_KINDS = ("grey", "colour", "other_size")
# How clients label uploads: honestly, or as the official Vyro SDK does (image.jpeg, image/jpeg, whatever it holds).
_LABELS = (None, ("image.jpeg", "image/jpeg"), ("upload", "application/octet-stream"))
# Not "": an empty seed is a server's choice (A13), refused or served as if omitted.
_NON_INTEGER_SEEDS = ("1.5", "abc", " ", "1e3", "0x1f", "+-1", "12 34", "٣")
_BAD_OUTPUT_FORMATS = ("tiff", "gif", "bmp", "PNG", "jpg", "", " png", "webp ")
_BAD_MODEL_VERSIONS = ("2", "0", "v1", "latest", "", "1.0")
_BLANK_PROMPTS = ("", " ", "   ", "\t", " \r\n ")
_WORDS = ("a red boat", "flowers", "a cat on a sofa", "snowy mountains", "blue sky", "an old wooden door")


# -- images ----------------------------------------------------------------------------
def image_sizes(min_side: int = SAFE_MIN_SIDE, max_side: int = MAX_DRAWN_SIDE) -> st.SearchStrategy[tuple[int, int]]:
    """(width, height): the odd and round sizes probes like, and any size in between."""
    if not 1 <= min_side <= max_side:
        raise ValueError(f"expected 1 <= min_side <= max_side, got {min_side} and {max_side}")
    fixed = [s for s in ROUND_SIZES + ODD_SIZES if min_side <= min(s) and max(s) <= max_side]
    drawn = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    return st.one_of(st.sampled_from(fixed), drawn) if fixed else drawn


def picture(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A patterned picture (gradients, blocks and noise, never flat) in ``mode``.

    RGBA pictures have a transparent rectangle inside an opaque frame, so the alpha
    channel alone is a usable mask (A9) with pixels both kept and repainted.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    cell = int(rng.integers(4, 17))
    blocks = ((np.arange(width)[None, :] // cell + np.arange(height)[:, None] // cell) % 2).astype(np.float32)
    channels = [
        np.broadcast_to(20 + 210 * xs, (height, width)),
        np.broadcast_to(230 - 190 * ys, (height, width)),
        50 + 160 * blocks,
    ]
    noise = rng.normal(0, 8, (height, width, 3))
    rgb = np.clip(np.stack(channels, axis=-1) + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        alpha = np.full((height, width), 255, dtype=np.uint8)
        left, top = int(rng.integers(0, max(1, width // 2))), int(rng.integers(0, max(1, height // 2)))
        alpha[top : top + height // 3 + 1, left : left + width // 3 + 1] = 0
        image.putalpha(Image.fromarray(alpha, "L"))
        return image
    if mode == "P":
        return image.quantize(64)
    return image.convert(mode)


def encode_image(image: Image.Image, fmt: str) -> bytes:
    """The picture as ``fmt`` bytes (png, jpeg, webp, gif, bmp); WebP is lossless so alpha stays exact."""
    if fmt not in _SAVE_OPTIONS:
        raise ValueError(f"unknown image format {fmt!r}: expected one of {', '.join(_SAVE_OPTIONS)}")
    buffer = io.BytesIO()
    image.save(buffer, fmt.upper(), **_SAVE_OPTIONS[fmt])
    return buffer.getvalue()


def images(
    formats: Iterable[str] = ("png", "jpeg", "webp"),
    modes: Iterable[str] = ("RGB", "RGBA", "L", "P"),
    sizes: st.SearchStrategy[tuple[int, int]] | None = None,
) -> st.SearchStrategy[bytes]:
    """Encoded image bytes: each example a (format, mode) pair the format can hold, at a drawn size.

    ``formats`` may include gif and bmp (for refusals). A mode a format cannot hold
    (RGBA as JPEG) is never paired with it; asking only for such pairs is an error.
    """
    formats, modes = tuple(formats), tuple(modes)
    unknown = [f for f in formats if f not in ENCODABLE_MODES]
    if unknown:
        raise ValueError(f"unknown image formats {unknown}: expected some of {', '.join(ENCODABLE_MODES)}")
    pairs = [(f, m) for f in formats for m in modes if m in ENCODABLE_MODES[f]]
    if not pairs:
        raise ValueError(f"no mode in {modes} can be stored as {formats}: see ENCODABLE_MODES")
    return _encoded_images(tuple(pairs), sizes or image_sizes())


@st.composite
def _encoded_images(draw, pairs: tuple[tuple[str, str], ...], sizes: st.SearchStrategy) -> bytes:
    fmt, mode = draw(st.sampled_from(pairs))
    return encode_image(picture(draw(sizes), mode, draw(st.integers(0, 2**32 - 1))), fmt)


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from an encoded image's header (no pixels decoded)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# -- masks -------------------------------------------------------------------------------
def masks(
    size: tuple[int, int] | None = None,
    kinds: Iterable[str] = MASK_KINDS,
    formats: Iterable[str] = ("png",),
    partial: bool = False,
) -> st.SearchStrategy[bytes]:
    """Encoded masks with exact 0 (keep) and 255 (repaint) regions, both non-empty (A8).

    ``kinds``: "grey" (mode L), "colour" (RGB with R = G = B, read as grey by every
    conversion) and "other_size" (grey, at another size than ``size``: a server
    resizes it, A8/V9). ``partial`` adds a band of in-between strengths. Without
    ``size`` one is drawn.
    """
    kinds, formats = tuple(kinds), tuple(formats)
    bad = [k for k in kinds if k not in MASK_KINDS] + [f for f in formats if f not in ENCODABLE_MODES]
    if bad or not kinds or not formats:
        raise ValueError(
            f"expected kinds among {MASK_KINDS} and formats among {tuple(ENCODABLE_MODES)}, got {kinds}, {formats}"
        )
    if size is not None and min(size) < 2:
        raise ValueError(f"a mask needs at least 2x2 pixels to hold both a kept and a repainted region, got {size}")
    return _masks(size, kinds, formats, partial)


@st.composite
def _masks(draw, size, kinds, formats, partial) -> bytes:
    width, height = size or draw(image_sizes())
    kind = draw(st.sampled_from(kinds))
    if kind == "other_size":
        factor = draw(st.sampled_from((0.5, 2.0, 0.75)))
        width, height = max(8, int(width * factor)), max(8, int(height * factor))
    values = np.zeros((height, width), dtype=np.uint8)
    left = draw(st.integers(0, width // 2 - 1))
    top = draw(st.integers(0, height // 2 - 1))
    values[top : top + height // 2, left : left + width // 2] = 255
    if partial:
        values[-max(1, height // 8) :, :] = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)[None, :]
    mask = Image.fromarray(values, "L")
    fmt = draw(st.sampled_from(formats))
    # Grey colours (R = G = B) for colour masks, and for formats without a grey mode (WebP).
    colour = kind == "colour" or "L" not in ENCODABLE_MODES[fmt]
    return encode_image(mask.convert("RGB") if colour else mask, fmt)


# -- seeds and text ---------------------------------------------------------------------
def seeds() -> st.SearchStrategy[int]:
    """Seeds in [0, 4294967294] (A13): both bounds and their neighbours, and anything inside."""
    edges = (SEED_MIN, SEED_MIN + 1, SEED_MAX - 1, SEED_MAX)
    return st.one_of(st.sampled_from(edges), st.integers(SEED_MIN, SEED_MAX))


def prompts(max_size: int = 80) -> st.SearchStrategy[str]:
    """Non-blank prompts: plain words, or any printable Unicode text (A7)."""
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=max_size)
    return st.one_of(st.sampled_from(_WORDS), text.filter(str.strip))


# -- requests ----------------------------------------------------------------------------
Upload = tuple[str | None, bytes, str | None]  # (filename, bytes, Content-Type), as requests takes files


def upload(data: bytes, name: str = "image", label: tuple[str, str] | None = None) -> Upload:
    """A file part; ``label`` overrides (filename, content type), else they match the bytes."""
    if label is not None:
        return label[0], data, label[1]
    fmt = sniff_format(data)
    return (f"{name}.{fmt}" if fmt else name), data, MEDIA_TYPES.get(fmt or "", "application/octet-stream")


def endpoint(api: Api | str, base_url: str | None = None) -> str:
    """The inpaint URL at ``base_url`` (default: the provider's own host)."""
    api = Api.parse(api)
    base = (base_url or f"https://{PROVIDER_HOSTS[api]}").rstrip("/")
    return base + PATHS[api]


def build_request(
    api: Api | str,
    fields: Mapping[str, str | bytes] | None = None,
    files: Mapping[str, Upload] | None = None,
    *,
    key: str | None = "test-key",
    base_url: str | None = None,
    method: str = "POST",
    url: str | None = None,
) -> HttpRequest:
    """A multipart request as `requests` encodes it, with the credential in the API's header.

    Every part goes through ``files=`` (text fields as ``(None, value)``), so the body
    is multipart even without a file part; ``key=None`` sends no credentials.
    """
    api = Api.parse(api)
    headers = {AUTH_HEADER[api]: key} if key is not None else {}
    parts = [(name, (None, value)) for name, value in (fields or {}).items()] + list((files or {}).items())
    # requests takes None as a part's Content-Type (the part then has none); its stubs say str.
    return _neutral(requests.Request(method, url or endpoint(api, base_url), headers=headers, files=parts))  # type: ignore[arg-type, unused-ignore]


def _neutral(request: requests.Request) -> HttpRequest:
    """The bytes `requests` would send, as a neutral HttpRequest."""
    prepared = request.prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    # Streams are bodies only for file-like data, which no request here is built from.
    assert isinstance(body, bytes), f"requests prepared a {type(body).__name__} body"
    return HttpRequest(prepared.method or "POST", prepared.url or "", dict(prepared.headers), body)


@dataclass(frozen=True)
class RequestSpec:
    """What a request holds before encoding: fields, file parts and the key."""

    api: Api
    fields: dict[str, str | bytes] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    key: str | None = "test-key"
    base_url: str | None = None

    def build(self, **overrides) -> HttpRequest:
        return build_request(self.api, self.fields, self.files, key=self.key, base_url=self.base_url, **overrides)

    def but(
        self, *, fields: Mapping | None = None, files: Mapping | None = None, drop: Sequence[str] = (), **changes
    ) -> RequestSpec:
        """A copy with some fields or files replaced, others dropped."""
        new_fields = {k: v for k, v in {**self.fields, **(fields or {})}.items() if k not in drop}
        new_files = {k: v for k, v in {**self.files, **(files or {})}.items() if k not in drop}
        return replace(self, fields=new_fields, files=new_files, **changes)


def valid_specs(
    api: Api | str, key: str | None = "test-key", base_url: str | None = None
) -> st.SearchStrategy[RequestSpec]:
    """Specs of requests every conforming server must serve; `valid_requests` encodes them."""
    api = Api.parse(api)
    return _ait_spec(key, base_url) if api is Api.AITHRIVING else _vyro_spec(key, base_url)


def valid_requests(
    api: Api | str, key: str | None = "test-key", base_url: str | None = None
) -> st.SearchStrategy[HttpRequest]:
    """Requests that break no clause: `validate_request` finds no violation in them."""
    return valid_specs(api, key, base_url).map(lambda spec: spec.build())


@st.composite
def _ait_spec(draw, key, base_url) -> RequestSpec:
    fields: dict = {"prompt": draw(prompts())}
    if draw(st.booleans()):
        fields["negative_prompt"] = draw(prompts())
    if draw(st.booleans()):
        fields["seed"] = str(draw(seeds()))
    if draw(st.booleans()):
        fields["output_format"] = draw(st.sampled_from(OUTPUT_FORMATS))
    with_mask = draw(st.booleans())
    # Without a mask part the alpha channel is the mask (A9): such images must carry one.
    formats = (
        sorted(INPUT_FORMATS[Api.AITHRIVING])
        if with_mask
        else [f for f in ("png", "webp") if f in INPUT_FORMATS[Api.AITHRIVING]]
    )
    image = draw(images(formats, ("RGB", "RGBA", "L", "P") if with_mask else ("RGBA",)))
    files = {"image": upload(image, "image", draw(st.sampled_from(_LABELS)))}
    if with_mask:
        files["mask"] = upload(draw(masks(image_size(image), formats=sorted(INPUT_FORMATS[Api.AITHRIVING]))), "mask")
    return RequestSpec(Api.AITHRIVING, fields, files, key, base_url)


@st.composite
def _vyro_spec(draw, key, base_url) -> RequestSpec:
    fields: dict = {"prompt": draw(prompts())}
    if draw(st.booleans()):
        fields["model_version"] = draw(st.sampled_from(VYRO_MODEL_VERSIONS))
    formats = sorted(INPUT_FORMATS[Api.VYRO])
    image = draw(images(formats))
    mask = draw(masks(image_size(image), formats=formats))
    label = draw(st.sampled_from(_LABELS))
    files = {"image": upload(image, "image", label), "mask": upload(mask, "mask", label)}
    return RequestSpec(Api.VYRO, fields, files, key, base_url)


# -- invalid requests ---------------------------------------------------------------------
def _unusable_bytes(allowed: Iterable[str]) -> st.SearchStrategy[bytes]:
    """Bytes that are not an image of an ``allowed`` format: other formats, corrupt, empty, noise."""
    allowed = frozenset(allowed)
    others = [f for f in ENCODABLE_MODES if f not in allowed]
    truncated = images(sorted(allowed)).map(lambda data: data[: len(data) // 2])
    noise = st.binary(min_size=1, max_size=64).filter(lambda data: sniff_format(data) not in allowed)
    return st.one_of(images(others), truncated, st.just(b""), noise)


Breakage = Callable[[st.DrawFn, "RequestSpec"], HttpRequest]


def _breakages(api: Api) -> dict[str, Breakage]:
    """clause id -> function(draw, valid spec) -> HttpRequest breaking that clause only."""
    p, allowed = api.prefix, INPUT_FORMATS[api]
    breaks = {
        f"{p}.prompt.required": lambda draw, s: s.but(drop=["prompt"]).build(),
        f"{p}.image.required": lambda draw, s: s.but(drop=["image"]).build(),
        f"{p}.image.invalid": lambda draw, s: s.but(files={"image": upload(draw(_unusable_bytes(allowed)))}).build(),
        f"{p}.auth.missing": lambda draw, s: s.but(key=None).build(),
        f"{p}.transport.multipart": _not_multipart,
        f"{p}.transport.post": _wrong_method_or_path,
        f"{p}.robust.malformed": _malformed,
        f"{p}.limits.dimensions": lambda draw, s: s.but(
            fields={"prompt": "x" * (MAX_PROMPT_CHARS + draw(st.integers(1, 50)))}
        ).build(),
    }
    if api is Api.AITHRIVING:
        breaks.update(
            {
                "ait.prompt.blank": lambda draw, s: s.but(
                    fields={"prompt": draw(st.sampled_from(_BLANK_PROMPTS))}
                ).build(),
                "ait.seed.range": lambda draw, s: s.but(
                    fields={
                        "seed": str(
                            draw(st.one_of(st.integers(max_value=SEED_MIN - 1), st.integers(min_value=SEED_MAX + 1)))
                        )
                    }
                ).build(),
                "ait.seed.integer": lambda draw, s: s.but(
                    fields={
                        "seed": draw(
                            st.one_of(
                                st.sampled_from(_NON_INTEGER_SEEDS),
                                st.floats(allow_nan=False, allow_infinity=False)
                                .filter(lambda f: not f.is_integer())
                                .map(str),
                            )
                        )
                    }
                ).build(),
                "ait.output_format.enum": lambda draw, s: s.but(
                    fields={"output_format": draw(st.sampled_from(_BAD_OUTPUT_FORMATS))}
                ).build(),
                "ait.mask.format": lambda draw, s: s.but(
                    files={"mask": upload(draw(_unusable_bytes(allowed)), "mask")}
                ).build(),
                "ait.mask.absent": lambda draw, s: s.but(
                    files={"image": upload(draw(images(sorted(allowed), ("RGB", "L"))))}, drop=["mask"]
                ).build(),
            }
        )
    else:
        breaks.update(
            {
                "vyro.mask.required": lambda draw, s: s.but(drop=["mask"]).build(),
                "vyro.mask.invalid": lambda draw, s: s.but(
                    files={"mask": upload(draw(_unusable_bytes(allowed)), "mask")}
                ).build(),
                "vyro.model_version.unknown": lambda draw, s: s.but(
                    fields={"model_version": draw(st.sampled_from(_BAD_MODEL_VERSIONS))}
                ).build(),
            }
        )
    return breaks


def invalid_clause_ids(api: Api | str) -> list[str]:
    """The clauses `invalid_requests` can break, in a stable order."""
    return sorted(_breakages(Api.parse(api)))


def invalid_requests(
    api: Api | str, key: str = "test-key", base_url: str | None = None, clauses: Iterable[str] | None = None
) -> st.SearchStrategy[tuple[HttpRequest, str]]:
    """(request, clause id): a valid request with one thing broken, labelled with the clause it breaks.

    A conforming server refuses each for that reason alone; ``clauses`` narrows the
    breakages to some clause ids (see `invalid_clause_ids`).
    """
    api = Api.parse(api)
    breaks = _breakages(api)
    wanted = sorted(breaks) if clauses is None else list(clauses)
    unknown = [c for c in wanted if c not in breaks]
    if unknown or not wanted:
        raise ValueError(
            f"cannot break {unknown or 'no clause'}: invalid_requests({api.value!r}) breaks {sorted(breaks)}"
        )
    return _invalid(api, key, base_url, tuple(wanted), breaks)


@st.composite
def _invalid(draw, api, key, base_url, wanted, breaks) -> tuple[HttpRequest, str]:
    clause_id = draw(st.sampled_from(wanted))
    spec = draw(valid_specs(api, key, base_url))
    return breaks[clause_id](draw, spec), clause_id


def _not_multipart(draw, spec: RequestSpec) -> HttpRequest:
    """The same fields as JSON or URL-encoded (the document's prose says "a JSON object")."""
    text = {k: v if isinstance(v, str) else v.decode("latin-1") for k, v in spec.fields.items()}
    headers = {AUTH_HEADER[spec.api]: spec.key} if spec.key is not None else {}
    url = endpoint(spec.api, spec.base_url)
    if draw(st.booleans()):
        return _neutral(requests.Request("POST", url, headers=headers, json=text))
    return _neutral(requests.Request("POST", url, headers=headers, data=text))


def _wrong_method_or_path(draw, spec: RequestSpec) -> HttpRequest:
    if draw(st.booleans()):
        return spec.build(method=draw(st.sampled_from(("GET", "PUT", "PATCH", "DELETE"))))
    base = (spec.base_url or f"https://{PROVIDER_HOSTS[spec.api]}").rstrip("/")
    return spec.build(url=base + PATHS[spec.api].rsplit("/", 1)[0] + "/outpaint")


def _malformed(draw, spec: RequestSpec) -> HttpRequest:
    """A multipart body cut short (B1). Text that is not UTF-8 is not drawn: a server may serve it (B1)."""
    whole = spec.build()
    cut = draw(st.integers(len(whole.body) // 4, len(whole.body) - 8))
    headers = {k: v for k, v in whole.headers.items() if k != "content-length"}
    return HttpRequest(whole.method, whole.url, headers, whole.body[:cut])
