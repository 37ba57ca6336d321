"""What a probe is: a named function that sends requests through a Runner and marks clauses.

Probes live in `probes_aithriving`, `probes_vyro`, `probes_robust` (both APIs) and
`properties` (hypothesis-driven). Each declares how many of its requests are
expected to succeed, so `verify` can say what a run costs before it sends anything.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from inpaint_conformance.contracts import Api

from .credentials import AUTH_ROLES
from .probe_images import EXTENSION, MEDIA, ROUND_SIZE, encode, half_mask, patterned

if TYPE_CHECKING:
    from .runner import Runner

BODY_KINDS = ("multipart", "truncated", "urlencoded")
PROBE_MODULES = (
    "inpaint_conformance.harness.probes_aithriving",
    "inpaint_conformance.harness.probes_vyro",
    "inpaint_conformance.harness.probes_shapes",
    "inpaint_conformance.harness.probes_robust",
    "inpaint_conformance.harness.properties",
    "inpaint_conformance.harness.probes_credits",  # last: it sets the embedded fake's balances, then restores them
)


@dataclass(frozen=True)
class Upload:
    """One file part, exactly as sent: the filename and Content-Type need not match the bytes."""

    data: bytes
    filename: str = "image.png"
    content_type: str = "image/png"


@dataclass
class RequestSpec:
    fields: dict[str, str | bytes] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    auth: str = "main"
    body: str = "multipart"  # "truncated": the multipart body cut in half; "urlencoded": fields only

    def __post_init__(self) -> None:
        if self.auth not in AUTH_ROLES:
            raise ValueError(f"auth must be one of {AUTH_ROLES}, got {self.auth!r}")
        if self.body not in BODY_KINDS:
            raise ValueError(f"body must be one of {BODY_KINDS}, got {self.body!r}")

    def but(
        self,
        *,
        drop: tuple[str, ...] = (),
        auth: str | None = None,
        body: str | None = None,
        files: dict[str, Upload] | None = None,
        **fields: str | bytes,
    ) -> RequestSpec:
        """A copy with fields set, parts dropped, or other credentials: probes vary one thing at a time."""
        new_fields = {k: v for k, v in {**self.fields, **fields}.items() if k not in drop}
        new_files = {k: v for k, v in {**self.files, **(files or {})}.items() if k not in drop}
        return RequestSpec(new_fields, new_files, auth or self.auth, body or self.body)


def upload(
    image: Image.Image | bytes,
    fmt: str = "png",
    *,
    name: str = "image",
    filename: str | None = None,
    content_type: str | None = None,
) -> Upload:
    """An image part named as an honest client names it, unless told otherwise."""
    data = image if isinstance(image, bytes) else encode(image, fmt)
    return Upload(
        data,
        filename or f"{name}.{EXTENSION.get(fmt, 'bin')}",
        content_type or MEDIA.get(fmt, "application/octet-stream"),
    )


PROMPT = "a small wooden boat on a calm lake, soft morning light"
FIXED_SEED = "20240607"  # any non-zero seed: the same one makes two AIThriving pictures comparable


def valid_spec(
    size: tuple[int, int] = ROUND_SIZE, *, fmt: str = "png", repaint: str = "right", **fields: str | bytes
) -> RequestSpec:
    """A request every server must accept: patterned image, half-and-half mask, a plain prompt."""
    files = {"image": _standard_part("image", size, fmt, repaint), "mask": _standard_part("mask", size, "png", repaint)}
    return RequestSpec({"prompt": PROMPT, **fields}, files)


@functools.lru_cache(maxsize=64)
def _standard_part(name: str, size: tuple[int, int], fmt: str, repaint: str) -> Upload:
    # Most probes send these same few files: encode each once per process.
    image = patterned(size) if name == "image" else half_mask(size, repaint)
    return upload(image, fmt, name=name)


@dataclass(frozen=True)
class ProbeDef:
    name: str
    api: Api
    run: Callable[[Runner], None]
    # Requests expected to succeed: AIThriving charges each one (A17). A callable gets --examples.
    successes: int | Callable[[int], int] = 0

    def planned_successes(self, examples: int) -> int:
        return self.successes(examples) if callable(self.successes) else self.successes


# Keyed by (api, name): a probe module imported again (pytester does that) replaces its
# probes instead of running them twice.
REGISTRY: dict[tuple[Api, str], ProbeDef] = {}


def probe(*apis: Api, successes: int | Callable[[int], int] = 0, name: str | None = None):
    """Register the decorated function as a probe of each API given."""

    def register(function: Callable[[Runner], None]):
        for api in apis:
            definition = ProbeDef(name or function.__name__, api, function, successes)
            REGISTRY[(api, definition.name)] = definition
        return function

    return register


def probes_for(api: Api) -> list[ProbeDef]:
    for module in PROBE_MODULES:
        importlib.import_module(module)
    return [p for p in REGISTRY.values() if p.api is api]


def planned_successes(api: Api, examples: int) -> int:
    return sum(p.planned_successes(examples) for p in probes_for(api))
