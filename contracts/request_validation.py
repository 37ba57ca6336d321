"""Judging a request: what a client sent, against the clauses that bind clients.

The fake server refuses exactly the requests this module finds violations in, so a
client's verdict and the fake's answer can never disagree. Images are decoded once
here and handed on, so nothing downstream decodes them again.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass, field

from PIL import Image
from python_multipart.multipart import parse_options_header

from .clauses import Api, Level
from .exchange import HttpRequest, redact_secret
from .images import ImageDecodeError, decode_image, has_alpha, sniff_format
from .multipart import Form, FormError, parse_form
from .rules import (
    DEFAULT_OUTPUT_FORMAT,
    INPUT_FORMATS,
    MAX_PROMPT_CHARS,
    MAX_UPLOAD_BYTES,
    OUTPUT_FORMATS,
    PATHS,
    SEED_MAX,
    SEED_MIN,
    VYRO_MODEL_VERSIONS,
    api_for_path,
    credential,
    effective_mask,
)
from .violations import Violation

# A13: an integer, with the spellings the decision leaves to the server (spaces around it, a sign).
_INTEGER = re.compile(r"[ \t\r\n]*(?P<sign>[+-]?)(?P<digits>[0-9]+)[ \t\r\n]*")
_QUOTE_LIMIT = 40
KNOWN_FIELDS = {
    Api.AITHRIVING: {"image", "mask", "prompt", "negative_prompt", "seed", "output_format"},
    Api.VYRO: {"image", "mask", "prompt", "model_version"},
}

# How to fix a body that is not multipart/form-data (FormError.kind -> hint).
_FORM_HINTS = {
    "content_type": "send the fields with multipart/form-data (requests or httpx: files=..., data=...)",
    "boundary": "do not set Content-Type yourself when the library builds the form (requests or httpx "
    "files=...): it writes `multipart/form-data; boundary=...` itself",
}
_MALFORMED_HINT = (
    "send the fields with multipart/form-data as a library writes it (requests or httpx: files=..., "
    "data=...): CRLF line ends and a closing --boundary--"
)


@dataclass
class InpaintRequest:
    """The parts of a request, decoded. Fields a client did not send are None."""

    api: Api
    credential: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    image: Image.Image | None = None
    image_format: str | None = None
    mask: Image.Image | None = None
    mask_format: str | None = None
    seed: int | None = None
    output_format: str | None = None
    model_version: str | None = None
    extra_fields: list[str] = field(default_factory=list)
    filenames: dict[str, str | None] = field(default_factory=dict)  # file part -> filename sent
    # Known fields sent twice with different contents: B6 leaves free which one a server reads.
    duplicated: list[str] = field(default_factory=list)

    @property
    def response_format(self) -> str:
        """The format the answer's image must have (A11 default png; Vyro always png)."""
        if self.api is Api.VYRO:
            return "png"
        return self.output_format or DEFAULT_OUTPUT_FORMAT

    def strength_mask(self) -> Image.Image | None:
        return effective_mask(self.image, self.mask) if self.image is not None else None


@dataclass
class RequestVerdict:
    request: InpaintRequest  # always there; parts that could not be read are None in it
    violations: list[Violation] = field(default_factory=list)
    # The client clauses this request was judged on (held or broken): a clause about seeds
    # only when a seed was sent. check-client passes a clause only where some request exercised it.
    checked: set[str] = field(default_factory=set)

    @property
    def refused(self) -> list[Violation]:
        """The violations a server answers with a failure."""
        return [v for v in self.violations if v.refuse]

    @property
    def acceptable(self) -> bool:
        return not self.refused

    def broken(self, level: Level = Level.MUST) -> list[Violation]:
        return [v for v in self.violations if v.level is level]

    def clause_ids(self) -> list[str]:
        return [v.clause for v in self.violations]

    @property
    def ambiguous(self) -> bool:
        """Whether a field came twice with different contents, so either answer may be right (B6)."""
        return bool(self.request is not None and self.request.duplicated)


def validate_request(api: Api | str, http: HttpRequest) -> RequestVerdict:
    """Every clause a client can break in this request, and the decoded request."""
    api = Api.parse(api)
    p = api.prefix
    found: list[Violation] = []

    if http.method != "POST" or api_for_path(http.path) is not api:
        found.append(Violation(f"{p}.transport.post", f"expected POST {PATHS[api]}, got {http.method} {http.path}"))
    elif http.path.endswith("/"):
        # Served here, but the documented URL has no slash: a provider may redirect (a client
        # that does not follow it gets no answer) or 404.
        found.append(
            Violation(
                f"{p}.transport.post",
                f"path {http.path} ends with '/': the documented endpoint is "
                f"POST {PATHS[api]} (a server may redirect or answer 404)",
                refuse=False,
            )
        )
    request = InpaintRequest(api=api, credential=credential(api, http.headers))
    found += _auth_violations(api, http, request)
    checked = {f"{p}.transport.post", f"{p}.auth.missing", f"{p}.limits.size"}
    if request.credential is not None:
        checked.add(f"{p}.auth.header")
    if len(http.body) > MAX_UPLOAD_BYTES:
        found.append(
            Violation(f"{p}.limits.size", f"body is {len(http.body)} bytes, over the {MAX_UPLOAD_BYTES}-byte limit")
        )
        return RequestVerdict(request, found, checked)
    checked |= {f"{p}.transport.multipart", f"{p}.robust.malformed"}
    try:
        form = parse_form(http.headers.get("content-type", ""), http.body)
    except FormError as exc:
        clause = "transport.multipart" if exc.kind in _FORM_HINTS else "robust.malformed"
        found.append(Violation(f"{p}.{clause}", f"{exc}; {_FORM_HINTS.get(exc.kind, _MALFORMED_HINT)}"))
        return RequestVerdict(request, found, checked)

    fields = _form_fields(api, form, request)
    request.duplicated = _duplicated(api, form)
    if request.duplicated:
        # B6: which copy of a field a server reads (or whether it refuses both) is free. A request
        # both readings must refuse is refused (for the first reading's reasons); otherwise only
        # what both readings break is broken.
        last = _form_fields(api, Form(list(reversed(form.parts))), InpaintRequest(api, request.credential))
        if not (_must_refuse(fields) and _must_refuse(last)):
            both = {v.clause for v in last}
            fields = [v for v in fields if v.clause in both]
    found += fields
    checked |= _exercised(api, form, request)
    request.extra_fields = [name for name in form.names() if name not in KNOWN_FIELDS[api]]
    request.filenames = {p.name: p.filename for p in form.parts if p.name in ("image", "mask")}
    return RequestVerdict(request, found, checked)


def _form_fields(api: Api, form: Form, request: InpaintRequest) -> list[Violation]:
    """What the parts of one reading of the form break; fills ``request`` from them."""
    found = _text_fields(api, form, request) + _image_fields(api, form, request)
    return found + (_aithriving_options(form, request) if api is Api.AITHRIVING else _vyro_options(form, request))


def _must_refuse(found: list[Violation]) -> bool:
    return any(v.refuse and v.level is not Level.MAY for v in found)


def _duplicated(api: Api, form: Form) -> list[str]:
    """Known fields sent more than once with different contents (B6: a server may read either, or refuse)."""
    return [
        name
        for name in form.names()
        if name in KNOWN_FIELDS[api] and len({part.data for part in form.parts if part.name == name}) > 1
    ]


def _exercised(api: Api, form: Form, request: InpaintRequest) -> set[str]:
    """The client clauses the parts of this form were judged on (a seed clause only when a seed was sent)."""
    p = api.prefix
    present = set(form.names())
    found = {f"{p}.prompt.required", f"{p}.image.required"}
    if "prompt" in present:
        found.add(f"{p}.limits.dimensions")
        if api is Api.AITHRIVING:
            found.add("ait.prompt.blank")
    if present & {"prompt", "negative_prompt", "seed", "output_format", "model_version"}:
        found.add(f"{p}.text.non_utf8")
    if "image" in present:
        found |= {f"{p}.image.formats", f"{p}.image.invalid", f"{p}.limits.dimensions"}
    if api is Api.AITHRIVING:
        if "mask" in present:
            found.add("ait.mask.format")
        elif request.image is not None:
            found.add("ait.mask.absent")
        found |= {"ait.seed.range", "ait.seed.integer", "ait.seed.empty"} if "seed" in present else set()
        found |= {"ait.output_format.enum"} if "output_format" in present else set()
    else:
        found.add("vyro.mask.required")
        found |= {"vyro.mask.formats", "vyro.mask.invalid"} if "mask" in present else set()
        found |= {"vyro.model_version.unknown"} if "model_version" in present else set()
    return found


def _auth_violations(api: Api, http: HttpRequest, request: InpaintRequest) -> list[Violation]:
    p = api.prefix
    if request.credential is None:
        header = "authorization" if api is Api.AITHRIVING else "bearer"
        return [Violation(f"{p}.auth.missing", f"no credentials: expected the `{header}` header with your key")]
    if api is Api.AITHRIVING and request.credential.lower().startswith("bearer "):
        return [
            Violation(
                "ait.auth.header",
                "`authorization` carries 'Bearer <key>'; the document sends the raw key: `authorization: <key>`",
                refuse=False,
            )
        ]
    if api is Api.VYRO and "bearer" not in http.headers:
        return [
            Violation(
                "vyro.auth.header",
                "token sent as `Authorization: Bearer`; the documented header is `bearer`",
                refuse=False,
            )
        ]
    if api is Api.VYRO and request.credential.lower().startswith("bearer "):
        # The header is named `bearer`; its value is the token alone (the document's example).
        return [
            Violation(
                "vyro.auth.header",
                "the `bearer` header carries 'Bearer <token>'; the document sends the token alone: `bearer: <token>`",
                refuse=False,
            )
        ]
    return []


def _text(api: Api, form: Form, name: str) -> tuple[str | None, list[Violation]]:
    part = form.get(name)
    if part is None:
        return None, []
    # RFC 7578 4.4: a text part may declare its charset (Java's Apache HttpClient sends
    # ISO-8859-1 by default); without one it is UTF-8.
    charset = _declared_charset(part.content_type) or "utf-8"
    try:
        return part.data.decode(charset), []
    except UnicodeError as exc:  # UnicodeDecodeError, or a codec that cannot decode at all ("undefined")
        where = f"{exc.reason} at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else str(exc)
        # B1: a server may refuse it or serve it as it decoded it; stock multipart parsers
        # (Starlette, FastAPI) fall back to latin-1, so that is the value judged from here on.
        return part.data.decode("latin-1"), [
            Violation(
                f"{api.prefix}.text.non_utf8",
                f"`{name}` is not valid {charset.upper()} ({where}): send text as UTF-8 "
                "(a server may refuse it, or serve it as it decodes it)",
            )
        ]


def _declared_charset(content_type: str | None) -> str | None:
    """The charset a part's Content-Type names, if Python knows it as a text encoding."""
    if not content_type:
        return None
    charset = parse_options_header(content_type)[1].get(b"charset", b"").decode("latin-1").strip().lower()
    try:
        codec = codecs.lookup(charset) if charset else None
    except (LookupError, ValueError):  # unknown, or not a name at all ("a\x00b")
        return None
    # Byte-to-byte codecs (base64, rot13, zlib) are codecs too, but no charset.
    return codec.name if codec is not None and getattr(codec, "_is_text_encoding", True) else None


def _text_fields(api: Api, form: Form, request: InpaintRequest) -> list[Violation]:
    p = api.prefix
    found: list[Violation] = []
    request.prompt, bad = _text(api, form, "prompt")
    found += bad
    if form.get("prompt") is None:
        found.append(Violation(f"{p}.prompt.required", "no `prompt` field: it is required"))
    elif api is Api.AITHRIVING and request.prompt is not None and not request.prompt.strip():
        # A7 makes a blank prompt an AIThriving failure; V4 only requires Vyro's to be present.
        found.append(Violation("ait.prompt.blank", "`prompt` is blank: expected a non-empty description"))
    if request.prompt is not None and len(request.prompt) > MAX_PROMPT_CHARS:
        found.append(
            Violation(
                f"{p}.limits.dimensions", f"`prompt` has {len(request.prompt)} characters, over {MAX_PROMPT_CHARS}"
            )
        )
    if api is Api.AITHRIVING:
        request.negative_prompt, bad = _text(api, form, "negative_prompt")
        found += bad
    return found


def _decode(
    api: Api, form: Form, name: str, invalid_clause: str
) -> tuple[Image.Image | None, str | None, list[Violation]]:
    part = form.get(name)
    if part is None:
        return None, None, []
    try:
        image = decode_image(part.data, INPUT_FORMATS[api])
    except ImageDecodeError as exc:
        clause = f"{api.prefix}.limits.dimensions" if exc.kind == "dimensions" else invalid_clause
        return (
            None,
            None,
            [Violation(clause, f"`{name}`: {exc}{_encoded_hint(part.data) if exc.kind == 'format' else ''}")],
        )
    return image, (image.format or "").lower() or None, []


def _encoded_hint(data: bytes) -> str:
    """A hint when image bytes came as text: base64 or a data: URL instead of the file itself."""
    text = data[:96].strip()
    if text[:5].lower() == b"data:":
        return (
            " (a data: URL): send the raw image bytes as a file part (requests or httpx: files={...: open(path, 'rb')})"
        )
    try:
        head = base64.b64decode(text[: len(text) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return ""
    if sniff_format(head):
        return (
            " (base64 text): send the raw image bytes as a file part (requests or httpx: files={...: open(path, 'rb')})"
        )
    return ""


def _image_fields(api: Api, form: Form, request: InpaintRequest) -> list[Violation]:
    p = api.prefix
    found: list[Violation] = []
    if form.get("image") is None:
        elsewhere = [part.name for part in form.parts if part.is_file and part.name not in KNOWN_FIELDS[api]]
        hint = f" (a file came as `{elsewhere[0]}`: name that part `image`)" if elsewhere else ""
        found.append(Violation(f"{p}.image.required", f"no `image` file part: it is required{hint}"))
    request.image, request.image_format, bad = _decode(api, form, "image", f"{p}.image.invalid")
    found += bad
    mask_invalid = "ait.mask.format" if api is Api.AITHRIVING else "vyro.mask.invalid"
    request.mask, request.mask_format, bad = _decode(api, form, "mask", mask_invalid)
    found += bad
    if api is Api.VYRO and form.get("mask") is None:
        found.append(Violation("vyro.mask.required", "no `mask` file part: it is required"))
    if api is Api.AITHRIVING and request.image is not None and form.get("mask") is None:
        if not has_alpha(request.image):  # what strength_mask() would say, without building the mask
            found.append(
                Violation(
                    "ait.mask.absent",
                    f"no `mask` part and the {request.image.mode} image has no alpha channel: send a mask or an RGBA image",
                )
            )
    return found


def _aithriving_options(form: Form, request: InpaintRequest) -> list[Violation]:
    found: list[Violation] = []
    seed_text, bad = _text(Api.AITHRIVING, form, "seed")
    found += bad
    if seed_text == "":
        # A13: an empty field is the server's choice (stock FastAPI reads it as omitted): refused, or a random seed.
        found.append(
            Violation(
                "ait.seed.empty",
                "`seed` is empty: a server may read it as omitted (a random seed) or refuse it; "
                "leave the field out for a random seed",
            )
        )
    elif seed_text is not None:
        request.seed, bad = _seed(seed_text, request)
        found += bad
    fmt, bad = _text(Api.AITHRIVING, form, "output_format")
    found += bad
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            found.append(
                Violation(
                    "ait.output_format.enum",
                    f"output_format {_shown(fmt, request)} is not one of {', '.join(OUTPUT_FORMATS)}",
                )
            )
        else:
            request.output_format = fmt
    return found


def _seed(text: str, request: InpaintRequest) -> tuple[int | None, list[Violation]]:
    """A13: the seed's value, or why there is none. Spellings of an in-range integer other than
    plain digits (spaces around it, a `+` sign, `-0`, leading zeros) are read as that integer:
    the decision lets a server accept or refuse them, and the fake accepts them."""
    match = _INTEGER.fullmatch(text)
    if match is None:
        return None, [
            Violation(
                "ait.seed.integer",
                f"seed {_shown(text, request)} is not an integer: expected digits in [{SEED_MIN}, {SEED_MAX}]",
            )
        ]
    sign, digits = match.group("sign"), match.group("digits").lstrip("0") or "0"
    # Compared as text first: int() refuses strings of more than 4300 digits (CVE-2020-10735).
    if len(digits) > len(str(SEED_MAX)):
        where = "below the minimum" if sign == "-" else "above the maximum"
        return None, [
            Violation(
                "ait.seed.range", f"seed has {len(digits)} digits: {where} {SEED_MIN if sign == '-' else SEED_MAX}"
            )
        ]
    value = -int(digits) if sign == "-" else int(digits)
    if value < SEED_MIN:
        return None, [Violation("ait.seed.range", f"seed {value} is below the minimum {SEED_MIN}")]
    if value > SEED_MAX:
        return None, [Violation("ait.seed.range", f"seed {value} is above the maximum {SEED_MAX}")]
    return value, []


def _shown(text: str, request: InpaintRequest) -> str:
    """A field's value as an error message quotes it (B3): never a key, a long value cut short.

    The caller's own key is recognised; any other key-shaped value (12+ characters without
    a space, not all digits) shows its hint too: a key of another account sent in a field
    is no less a secret, and the validators cannot know every key.
    """
    value = text.strip()
    own = request.credential and value in (request.credential, request.credential.split(" ")[-1])
    if own or (len(value) >= _KEY_SHAPED and not any(c.isspace() for c in value) and not value.isdigit()):
        return f"'{redact_secret(value)}'" + (" (your API key)" if own else "")
    if len(text) > _QUOTE_LIMIT:
        return f"{text[:_QUOTE_LIMIT]!r}… ({len(text)} characters)"
    return repr(text)


_KEY_SHAPED = 12


def _vyro_options(form: Form, request: InpaintRequest) -> list[Violation]:
    version, bad = _text(Api.VYRO, form, "model_version")
    if version is not None and version.strip() not in VYRO_MODEL_VERSIONS:
        bad.append(
            Violation(
                "vyro.model_version.unknown",
                f"model_version {_shown(version, request)} is unknown: expected one of {', '.join(VYRO_MODEL_VERSIONS)}",
            )
        )
    request.model_version = version
    return bad
