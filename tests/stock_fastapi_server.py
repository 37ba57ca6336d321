"""Both inpaint APIs as a newcomer writes them with stock FastAPI: `Form` and `UploadFile` parameters.

Written from the two documents and docs/decisions.md only; it imports nothing from
this project. What makes it "stock" is what FastAPI does on its own: Starlette parses
the multipart body, and a text field that is not valid UTF-8 is decoded as latin-1 and
served (B1 allows that: a success, charged like any success). Elsewhere it takes plain
choices: AIThriving failures are HTTP 200 envelopes except 401 for credentials, a mask
of another size is resized (bilinear), masks blend partial values, the fill is seeded
noise, random seeds come from `secrets`. Credits are read at GET /credits.
"""

from __future__ import annotations

import base64
import io
import secrets
import threading
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException as StarletteHTTPException

AIT, VYRO = "/api/edit/inpaint", "/v1/imagine/api/edits/inpaint"
PRICE, SEED_MAX = 6, 4294967294
MAX_PIXELS = 4096 * 4096
SAVE = {"png": ("PNG", {}), "jpeg": ("JPEG", {"quality": 90}), "webp": ("WEBP", {"quality": 90})}


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def load(data: bytes, formats: tuple[str, ...], what: str) -> Image.Image:
    kind = sniff(data)
    if kind not in formats:
        raise Refused(f"{what} must be {' or '.join(formats)}")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if not width or not height or width * height > MAX_PIXELS:
                raise Refused(f"{what} is {width}x{height}: too small or too large")
            probe.load()
            return probe.copy()
    except Refused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Refused(f"{what} cannot be read: {exc}") from None


def strength(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """0 keeps, 255 repaints: the mask (grey, resized), else the inverse of the image's alpha."""
    if mask is not None:
        return mask.convert("L").resize(image.size, Image.Resampling.BILINEAR)
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        return Image.eval(image.convert("RGBA").getchannel("A"), lambda a: 255 - a)
    raise Refused("send a mask, or an image with an alpha channel")


def paint(image: Image.Image, mask: Image.Image, seed: int) -> Image.Image:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    noise = np.random.default_rng(seed).integers(0, 256, rgb.shape).astype(np.float64)
    weight = np.asarray(mask, dtype=np.float64)[..., None] / 255.0
    return Image.fromarray((rgb * (1 - weight) + noise * weight).round().astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    name, options = SAVE[fmt]
    image.save(buffer, name, **options)
    return buffer.getvalue()


def create_app(credits: dict[str, int]) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()

    def envelope(code: int, message: str, data, status: int = 200) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "data": data}, status_code=status)

    def refuse(path: str, message: str, status: int) -> Response:
        if path == AIT:
            return envelope(-1, message, None, 401 if status == 401 else 200)
        return PlainTextResponse(message, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return refuse(request.url.path, f"invalid request: {exc.errors()[0].get('msg', 'bad form')}", 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path in (AIT, VYRO) and exc.status_code < 500:
            return refuse(request.url.path, str(exc.detail), exc.status_code)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.get("/credits")
    def balance(authorization: Annotated[str | None, Header()] = None) -> Response:
        if authorization not in credits:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return JSONResponse({"credits": credits[authorization]})

    @app.post(AIT)
    async def aithriving(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        image: Annotated[UploadFile | None, File()] = None,
        mask: Annotated[UploadFile | None, File()] = None,
        prompt: Annotated[str | None, Form()] = None,
        negative_prompt: Annotated[str | None, Form()] = None,
    ) -> Response:
        if authorization not in credits:
            return envelope(-1, "unknown or missing API key", None, 401)
        # FastAPI turns an empty Form value into its default; A11 refuses output_format="" (and A13 lets a
        # server refuse seed="" or serve it as omitted: this one refuses it).
        form = await request.form()
        seed, output_format = form.get("seed"), form.get("output_format", "png")
        try:
            if image is None:
                raise Refused("image is required")
            if prompt is None or not prompt.strip():
                raise Refused("prompt is required")
            if not isinstance(output_format, str) or output_format not in SAVE:
                raise Refused("output_format must be jpeg, png or webp")
            picked = 0
            if seed is not None:
                try:
                    picked = int(str(seed).strip())
                except ValueError:
                    raise Refused("seed must be an integer") from None
                if not 0 <= picked <= SEED_MAX:
                    raise Refused(f"seed must be in [0, {SEED_MAX}]")
            picture = load(await image.read(), ("jpeg", "png", "webp"), "image")
            drawn = load(await mask.read(), ("jpeg", "png", "webp"), "mask") if mask is not None else None
            weights = strength(picture, drawn)
        except Refused as refusal:
            return envelope(-1, refusal.message, None)
        used = picked or secrets.randbelow(SEED_MAX) + 1
        data = encode(paint(picture, weights, used), output_format)
        with lock:
            if credits[authorization] < PRICE:
                return envelope(-1, f"not enough credits: {PRICE} needed", None)
            credits[authorization] -= PRICE
        return envelope(0, "success", {"image": base64.b64encode(data).decode("ascii"), "seed": used})

    @app.post(VYRO)
    async def vyro(
        request: Request,
        bearer: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
        prompt: Annotated[str | None, Form()] = None,
        image: Annotated[UploadFile | None, File()] = None,
        mask: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        token = bearer or (authorization[7:] if (authorization or "").lower().startswith("bearer ") else None)
        if token not in credits:
            return PlainTextResponse("unauthorized", status_code=401)
        try:
            if prompt is None or image is None or mask is None:
                raise Refused("prompt, image and mask are required")
            if (await request.form()).get("model_version", "1") != "1":
                raise Refused("unknown model_version")
            picture = load(await image.read(), ("jpeg", "png"), "image")
            weights = strength(picture, load(await mask.read(), ("jpeg", "png"), "mask"))
        except Refused as refusal:
            return PlainTextResponse(refusal.message, status_code=refusal.status)
        return Response(encode(paint(picture, weights, secrets.randbelow(SEED_MAX) + 1), "png"), media_type="image/png")

    return app
