"""The numbers and meanings the two documents fix, in one place.

Everything that needs a bound, a path, a credit price or the meaning of a mask
imports it from here: the fake, the reference engine, the harness and the OpenAPI
export never write these values themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from .clauses import Api
from .images import alpha_channel, has_alpha

PATHS = {Api.AITHRIVING: "/api/edit/inpaint", Api.VYRO: "/v1/imagine/api/edits/inpaint"}
PROVIDER_HOSTS = {Api.AITHRIVING: "www.aithriving.com", Api.VYRO: "api.vyro.ai"}
# Not a provider rule: where the fake (and only the fake) answers its inspection API; no
# provider path starts with it, so a client calling it is never judged as an inpaint call.
FAKE_PREFIX = "/__fake__"
PROVIDER_ORIGINS = {Api.AITHRIVING: "https://www.aithriving.com", Api.VYRO: "https://api.vyro.ai/v1/imagine/api"}

# A13/A15: the seed range, and the range a server-picked seed falls in.
SEED_MIN, SEED_MAX = 0, 4294967294
RANDOM_SEED_MIN = 1
# A17: price of one successful AIThriving result.
CREDITS_PER_SUCCESS = 6
# A11: AIThriving output formats; Vyro always answers PNG (V3).
OUTPUT_FORMATS = ("jpeg", "png", "webp")
DEFAULT_OUTPUT_FORMAT = "png"
INPUT_FORMATS = {Api.AITHRIVING: frozenset({"jpeg", "png", "webp"}), Api.VYRO: frozenset({"jpeg", "png"})}
# V6: model versions a Vyro server must accept.
VYRO_MODEL_VERSIONS = ("1",)
VYRO_DEFAULT_MODEL_VERSION = "1"
# A12/A16: how close "equal" has to be where encoders may differ.
KEPT_PSNR_DB = 40.0
# B4: limits any server MAY enforce; B2: the fake's upload limit.
MAX_PROMPT_CHARS = 10_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024

# V4/V5/V2 name the status for these caller errors (in this order of precedence); other
# Vyro caller errors are answered 400, or any 4xx for the clauses in VYRO_ANY_4XX (V8).
VYRO_FAILURE_STATUSES = {
    "vyro.auth.missing": frozenset({401}),
    "vyro.auth.invalid": frozenset({401}),
    "vyro.limits.size": frozenset({400, 413}),
}
VYRO_DEFAULT_FAILURE_STATUS = 400
VYRO_ANY_4XX = frozenset(
    {
        "vyro.robust.malformed",
        "vyro.limits.dimensions",
        "vyro.transport.multipart",
        "vyro.transport.post",
        "vyro.text.non_utf8",
    }
)


def vyro_failure_status(clause_ids: Iterable[str]) -> int:
    """The status a Vyro server answers a refusal for these clauses with: the one the decisions name
    for the first of VYRO_FAILURE_STATUSES among them (the highest where two are allowed), else 400."""
    refused = set(clause_ids)
    for clause_id, statuses in VYRO_FAILURE_STATUSES.items():
        if clause_id in refused:
            return max(statuses)
    return VYRO_DEFAULT_FAILURE_STATUS


MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
AUTH_HEADER = {Api.AITHRIVING: "authorization", Api.VYRO: "bearer"}
# Not a provider rule: the environment variable each key role is read from (by verify, the
# pytest plugin's docs and every curl reproducer), so a printed command runs as printed.
KEY_ENV_VARS = {
    (Api.AITHRIVING, "main"): "AIT_API_KEY",
    (Api.AITHRIVING, "second"): "AIT_API_KEY_2",
    (Api.AITHRIVING, "low"): "AIT_LOW_CREDIT_KEY",
    (Api.VYRO, "main"): "VYRO_TOKEN",
    (Api.VYRO, "second"): "VYRO_TOKEN_2",
    (Api.VYRO, "low"): "VYRO_LOW_CREDIT_TOKEN",
}


def api_for_path(path: str) -> Api | None:
    """The API whose documented endpoint ``path`` is (under any prefix, a trailing slash allowed)."""
    stripped = path.rstrip("/")
    return next((api for api, p in PATHS.items() if stripped.endswith(p)), None)


def near_miss_api(url: str, path: str, headers) -> Api | None:
    """The API a call to a wrong inpaint path was meant for (None: not an inpaint call).

    Only paths that name inpainting count: other endpoints of the real providers are
    not this contract's business. The provider's host, then the path, then the auth
    header tell the API.
    """
    lowered = path.lower()
    if "inpaint" not in lowered or lowered.startswith(FAKE_PREFIX) or api_for_path(path):
        return None
    host = urlsplit(url).hostname or ""
    by_host = next((api for api, h in PROVIDER_HOSTS.items() if host == h), None)
    if by_host is not None:
        return by_host
    if "imagine" in lowered or "/edits/" in lowered or AUTH_HEADER[Api.VYRO] in headers:
        return Api.VYRO
    return Api.AITHRIVING


def credential(api: Api, headers) -> str | None:
    """The key or token the client sent, from the header its API uses (V2 also allows Authorization: Bearer)."""
    if api is Api.AITHRIVING:
        value = headers.get("authorization")
        return value.strip() if value and value.strip() else None
    value = headers.get("bearer")
    if value and value.strip():
        return value.strip()
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    return None


def effective_mask(image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
    """The per-pixel strength the API means (A8, A9): "L", image-sized, 0 keeps, 255 repaints.

    A mask part wins over the alpha channel; colour masks are read as grey; a mask
    of another size is resized to the image. Without either: None (a failure).
    """
    if mask is not None:
        grey = mask.convert("RGBA").convert("L") if has_alpha(mask) else mask.convert("L")
        if grey.size != image.size:
            grey = grey.resize(image.size, Image.Resampling.BILINEAR)
        return grey
    if has_alpha(image):
        # Transparent (alpha 0) is repainted: strength is the inverse of opacity.
        return ImageChops.invert(alpha_channel(image))
    return None


def kept_and_repainted(mask: Image.Image, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean maps of the pixels judged as kept (exactly 0) and repainted (exactly 255).

    Values in between are partial strength or thresholded, both allowed (A8), so no
    probe judges them. ``margin`` shrinks both regions away from their edges: a mask
    resized by the server (nearest, bilinear, ...) may place an edge a pixel or two
    off, which is a free choice, not a defect.
    """
    values = np.asarray(mask)
    kept, repainted = values == 0, values == 255
    if margin > 0:
        kept, repainted = _erode(kept, margin), _erode(repainted, margin)
    return kept, repainted


def _erode(region: np.ndarray, margin: int) -> np.ndarray:
    image = Image.fromarray(region.astype(np.uint8) * 255, "L")
    return np.asarray(image.filter(ImageFilter.MinFilter(2 * margin + 1))) == 255
