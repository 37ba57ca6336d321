"""The one request model: what a request holds before it is encoded.

`RequestSpec` (fields, file parts, whose key, the body's shape) and `Upload` (one file
part exactly as sent) serve the published strategies (`contracts.strategies`), verify's
probes (which resolve `auth` roles to keys and send through httpx) and the tests alike;
`upload()` makes a part the way an honest client names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import requests
from PIL import Image

from .clauses import Api
from .exchange import HttpRequest
from .images import encode_image, sniff_format
from .rules import AUTH_HEADER, PATHS, PROVIDER_HOSTS
from .rules import MEDIA_TYPES as DOCUMENTED_MEDIA_TYPES

# The documented formats' media types, plus formats the refusal checks upload.
UPLOAD_MEDIA_TYPES = {**DOCUMENTED_MEDIA_TYPES, "gif": "image/gif", "bmp": "image/bmp"}
FILE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "bmp": "bmp"}
# "truncated": the multipart body cut in half; "urlencoded": the fields only, as a form.
BODY_KINDS = ("multipart", "truncated", "urlencoded")


class _Unchanged:
    """`RequestSpec.but`'s default for a value that may be set to None."""


_UNCHANGED = _Unchanged()


@dataclass(frozen=True)
class Upload:
    """One file part, exactly as sent: the filename and Content-Type need not match the bytes."""

    data: bytes
    filename: str | None = "image.png"
    content_type: str | None = "image/png"

    def as_file(self) -> tuple[str | None, bytes, str | None]:
        """(filename, bytes, Content-Type): how requests and httpx take a file part."""
        return self.filename, self.data, self.content_type


def upload(
    image: Image.Image | bytes,
    fmt: str | None = None,
    *,
    name: str = "image",
    filename: str | None = None,
    content_type: str | None = None,
) -> Upload:
    """An image part named as an honest client names it (``name``.ext, the format's media type), unless told.

    A picture is encoded as ``fmt`` (default png); bytes are sent as they are, labelled with
    the format they sniff as (``fmt`` overrides it).
    """
    if isinstance(image, Image.Image):
        fmt = fmt or "png"
        data = encode_image(image, fmt)
    else:
        data, fmt = image, fmt or sniff_format(image)
    extension = FILE_EXTENSIONS.get(fmt or "")
    return Upload(
        data,
        filename or (f"{name}.{extension}" if extension else name),
        content_type or UPLOAD_MEDIA_TYPES.get(fmt or "", "application/octet-stream"),
    )


@dataclass(frozen=True)
class RequestSpec:
    """Fields, file parts, whose key and the body's shape: probes vary one thing at a time.

    ``auth``: whose key verify's runner sends, as a role it resolves ("main", "none", a near
    miss...). `build()` (what the published strategies use) encodes a multipart request as
    `requests` does, for ``api``, sending the literal ``key`` (None: no credentials) to ``base_url``.
    """

    fields: dict[str, str | bytes] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    auth: str = "main"
    body: str = "multipart"
    api: Api | None = None
    key: str | None = "test-key"
    base_url: str | None = None

    def __post_init__(self) -> None:
        if self.body not in BODY_KINDS:
            raise ValueError(f"body must be one of {BODY_KINDS}, got {self.body!r}")

    def but(
        self,
        *,
        drop: Sequence[str] = (),
        auth: str | None = None,
        body: str | None = None,
        files: Mapping[str, Upload] | None = None,
        fields: Mapping[str, str | bytes] | None = None,
        key: str | None | _Unchanged = _UNCHANGED,
        base_url: str | None | _Unchanged = _UNCHANGED,
        **more_fields: str | bytes,
    ) -> RequestSpec:
        """A copy with fields set (``fields`` or keywords), parts dropped, other files or credentials."""
        new_fields = {k: v for k, v in {**self.fields, **(fields or {}), **more_fields}.items() if k not in drop}
        new_files = {k: v for k, v in {**self.files, **(files or {})}.items() if k not in drop}
        return replace(
            self,
            fields=new_fields,
            files=new_files,
            auth=auth or self.auth,
            body=body or self.body,
            key=self.key if isinstance(key, _Unchanged) else key,
            base_url=self.base_url if isinstance(base_url, _Unchanged) else base_url,
        )

    def build(self, **overrides) -> HttpRequest:
        """The multipart request as `requests` encodes it (``overrides``: method, url)."""
        if self.api is None:
            raise ValueError("RequestSpec.build needs the spec's api (RequestSpec(..., api=Api.AITHRIVING))")
        return build_request(self.api, self.fields, self.files, key=self.key, base_url=self.base_url, **overrides)


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
    parts: list[tuple[str, tuple[str | None, str | bytes, str | None] | tuple[None, str | bytes]]]
    parts = [(name, (None, value)) for name, value in (fields or {}).items()]
    parts += [(name, part.as_file()) for name, part in (files or {}).items()]
    # requests takes None as a part's Content-Type (the part then has none); its stubs say str.
    return as_http_request(requests.Request(method, url or endpoint(api, base_url), headers=headers, files=parts))  # type: ignore[arg-type, unused-ignore]


def as_http_request(request: requests.Request) -> HttpRequest:
    """The bytes `requests` would send, as a neutral HttpRequest."""
    prepared = request.prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    # Streams are bodies only for file-like data, which no request here is built from.
    assert isinstance(body, bytes), f"requests prepared a {type(body).__name__} body"
    return HttpRequest(prepared.method or "POST", prepared.url or "", dict(prepared.headers), body)
