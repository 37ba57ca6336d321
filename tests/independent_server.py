"""A second, independent server of both APIs, to prove `verify` raises no false alarms.

Written from the two documents and docs/decisions.md only: it imports nothing
from contracts/ or fakes/, parses multipart with the standard library's email
parser, and takes the other road wherever the decisions allow one:

- AIThriving failures are HTTP 400/401/402 (not 200), with the envelope, its own wording
  and `data` an empty object; 413 for big uploads, 429 with Retry-After.
- Vyro errors are plain text; `Authorization: Bearer` is accepted too; a mask of
  another size is refused with 400 (V9's other choice). AIThriving resizes it (NEAREST).
- Credentials are checked before the form is read (the fake reads the form first).
- Masks and alpha are cut at 128 instead of blended; random seeds come from
  random.SystemRandom; the fill is blurred noise; JPEG quality 70, lossless WebP,
  PNG compress_level 9; long prompts and small images are served.
- Credits are read at GET /balance with the `authorization` header.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import random
import re
import threading

import numpy as np
from PIL import Image, ImageFilter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

PRICE = 6
SEED_LIMIT = 4294967294
MAX_BODY = 8 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}
SAVE = {
    "png": {"format": "PNG", "compress_level": 9},
    "jpeg": {"format": "JPEG", "quality": 70},
    "webp": {"format": "WEBP", "lossless": True},
}
AIT_PATH, VYRO_PATH = "/api/edit/inpaint", "/v1/imagine/api/edits/inpaint"


class Refusal(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def sniff(data: bytes) -> str | None:
    for magic, name in MAGIC.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_picture(data: bytes, allowed: set[str], what: str) -> Image.Image:
    kind = sniff(data)
    if kind not in allowed:
        raise Refusal(400, f"{what}: unsupported file, send {' or '.join(sorted(allowed))}")
    try:
        picture = Image.open(io.BytesIO(data))
        width, height = picture.size
        if width * height > MAX_PIXELS or not width or not height:
            raise Refusal(400, f"{what}: {width}x{height} pixels is not a usable size")
        picture.load()
    except Refusal:
        raise
    except Exception:  # Pillow's many ways of saying "not an image", bombs included
        raise Refusal(400, f"{what}: the file could not be read as an image") from None
    return picture


def read_form(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, filename) with the standard library; any defect is a 400."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise Refusal(400, "the body has to be multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if message.defects or not message.is_multipart():
        raise Refusal(400, "the multipart body is damaged or incomplete")
    form: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and name not in form:
            form[str(name)] = (part.get_payload(decode=True) or b"", part.get_filename())
    return form


def text(form: dict, name: str) -> str | None:
    if name not in form:
        return None
    try:
        return form[name][0].decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, f"field {name} must be UTF-8 text") from None


def fill(size: tuple[int, int], seed: int, prompt: str) -> Image.Image:
    salt = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")
    noise = np.random.default_rng([seed, salt]).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(noise, "RGB").filter(ImageFilter.GaussianBlur(3))


def paint(picture: Image.Image, mask: Image.Image, seed: int, prompt: str, fmt: str) -> bytes:
    cut = mask.point(lambda v: 255 if v >= 128 else 0)
    base = (
        picture.convert("RGBA").convert("RGB")
        if "A" in picture.mode or "transparency" in picture.info
        else picture.convert("RGB")
    )
    out = Image.composite(fill(picture.size, seed, prompt), base, cut)
    buffer = io.BytesIO()
    out.save(buffer, **SAVE[fmt])
    return buffer.getvalue()


class IndependentServer:
    def __init__(self, keys: dict[str, int], *, throttle_first: int = 0, retry_after: str = "1") -> None:
        self.credits = dict(keys)
        self.lock = threading.Lock()
        self.throttle_left = {AIT_PATH: throttle_first, VYRO_PATH: throttle_first}
        self.retry_after = retry_after
        self.random = random.SystemRandom()

    # -- shared door -------------------------------------------------------------------
    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY:
            raise Refusal(413, "upload too large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise Refusal(413, "upload too large")
            chunks.append(chunk)
        return b"".join(chunks)

    def _throttled(self, path: str) -> bool:
        with self.lock:
            if self.throttle_left[path] > 0:
                self.throttle_left[path] -= 1
                return True
        return False

    # -- AIThriving --------------------------------------------------------------------
    async def aithriving(self, request: Request) -> Response:
        try:
            if request.method != "POST":
                raise Refusal(405, "use POST")
            if self._throttled(AIT_PATH):
                return self._ait_error(429, "slow down", {"Retry-After": self.retry_after})
            key = request.headers.get("authorization", "").strip()
            if key not in self.credits:
                raise Refusal(401, "missing or unknown API key")
            if self.credits[key] < PRICE:
                raise Refusal(402, f"not enough credits left ({self.credits[key]})")
            body = await self._body(request)
            image, seed = await run_in_threadpool(self._ait_paint, request.headers.get("content-type", ""), body)
        except Refusal as refusal:
            return self._ait_error(refusal.status, refusal.text)
        with self.lock:
            if self.credits[key] < PRICE:
                return self._ait_error(402, "not enough credits left")
            self.credits[key] -= PRICE
        data = {"image": base64.b64encode(image).decode(), "seed": seed}
        return JSONResponse({"code": 0, "message": "success", "data": data})

    def _ait_error(self, status: int, message: str, headers: dict | None = None) -> Response:
        return JSONResponse(
            {"code": -1, "message": f"inpaint refused: {message}", "data": {}}, status_code=status, headers=headers
        )

    def _ait_paint(self, content_type: str, body: bytes) -> tuple[bytes, int]:
        form = read_form(content_type, body)
        prompt = text(form, "prompt")
        if prompt is None or not prompt.strip():
            raise Refusal(400, "prompt is required")
        text(form, "negative_prompt")
        if "image" not in form:
            raise Refusal(400, "image is required")
        picture = open_picture(form["image"][0], {"jpeg", "png", "webp"}, "image")
        seed_text = text(form, "seed")
        seed = 0
        if seed_text is not None:
            if not re.fullmatch(r"-?[0-9]+", seed_text.strip()):
                raise Refusal(400, "seed must be a whole number")
            seed = int(seed_text)
            if not 0 <= seed <= SEED_LIMIT:
                raise Refusal(400, f"seed must be between 0 and {SEED_LIMIT}")
        fmt = text(form, "output_format") or "png"
        if fmt not in SAVE:
            raise Refusal(400, "output_format must be jpeg, png or webp")
        if "mask" in form:
            mask = open_picture(form["mask"][0], {"jpeg", "png", "webp"}, "mask").convert("L")
            if mask.size != picture.size:
                mask = mask.resize(picture.size, Image.Resampling.NEAREST)
        elif "A" in picture.mode or "transparency" in picture.info:
            mask = picture.convert("RGBA").getchannel("A").point(lambda a: 255 - a)
        else:
            raise Refusal(400, "send a mask, or an image with transparency")
        seed = seed or self.random.randint(1, SEED_LIMIT)
        return paint(picture, mask, seed, prompt, fmt), seed

    def balance(self, request: Request) -> Response:
        key = request.headers.get("authorization", "").strip()
        if key not in self.credits:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return JSONResponse({"credits": self.credits[key]})

    # -- Vyro --------------------------------------------------------------------------
    async def vyro(self, request: Request) -> Response:
        try:
            if request.method != "POST":
                raise Refusal(405, "use POST")
            if self._throttled(VYRO_PATH):
                return PlainTextResponse("rate limited", status_code=429, headers={"Retry-After": self.retry_after})
            token = request.headers.get("bearer", "").strip()
            authorization = request.headers.get("authorization", "")
            if not token and authorization.lower().startswith("bearer "):
                token = authorization[7:].strip()
            if token not in self.credits:
                raise Refusal(401, "Unauthorized")
            body = await self._body(request)
            image = await run_in_threadpool(self._vyro_paint, request.headers.get("content-type", ""), body)
        except Refusal as refusal:
            return PlainTextResponse(refusal.text, status_code=refusal.status)
        return Response(image, media_type="image/png")

    def _vyro_paint(self, content_type: str, body: bytes) -> bytes:
        form = read_form(content_type, body)
        prompt = text(form, "prompt")
        if prompt is None:
            raise Refusal(400, "Bad Request: prompt missing")
        for part in ("image", "mask"):
            if part not in form:
                raise Refusal(400, f"Bad Request: {part} missing")
        version = text(form, "model_version")
        if version is not None and version != "1":
            raise Refusal(400, "Bad Request: unknown model_version")
        picture = open_picture(form["image"][0], {"jpeg", "png"}, "image")
        mask = open_picture(form["mask"][0], {"jpeg", "png"}, "mask").convert("L")
        if mask.size != picture.size:
            raise Refusal(400, "Bad Request: mask and image sizes differ")
        return paint(picture, mask, self.random.randint(1, SEED_LIMIT), prompt, "png")


def create_app(keys: dict[str, int], **options) -> Starlette:
    server = IndependentServer(keys, **options)
    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(
        routes=[
            Route(AIT_PATH, server.aithriving, methods=methods),
            Route(VYRO_PATH, server.vyro, methods=methods),
            Route("/balance", server.balance, methods=["GET"]),
        ]
    )
    app.state.server = server
    return app


__all__ = ["create_app", "IndependentServer"]
