"""Both inpaint APIs as a team would write them with stock FastAPI, from the two documents alone.

It imports nothing from this project: `UploadFile`, `Form(...)`, `Header`, `JSONResponse`
and Pillow, the way FastAPI's own tutorial writes an upload endpoint. Starlette's form
parser is left as it is (text that is not UTF-8 arrives decoded as latin-1 and is served).
Its allowed choices, each different from the fake's or the other test servers':

- AIThriving failures are HTTP 200 with the envelope (the provider's likely choice), auth too;
- credentials are checked after the form is read (FastAPI parses parameters first);
- masks are blended (values between 0 and 255 are a partial strength) and resized bicubic;
- the fill is smooth colour blobs from the seed; PNG compress_level 1, JPEG quality 85, lossy WebP quality 75;
- Vyro errors are JSON `{status, code, error, message}`; `Authorization: Bearer` is refused
  (401); a Vyro mask of another size is resized; no 429s.

`MUTANTS` are single realistic bugs, one switched on at a time through `app.state.mutant`
(tests/test_mutants.py); `None` is the correct server.
"""

from __future__ import annotations

import base64
import io
import secrets
import threading
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image

AIT_PATH, VYRO_PATH = "/api/edit/inpaint", "/v1/imagine/api/edits/inpaint"
PRICE, SEED_MAX = 6, 4294967294
SAVE = {"png": {"compress_level": 1}, "jpeg": {"quality": 85}, "webp": {"quality": 75}}

MUTANTS = {
    # AIThriving
    "seed_int32": "the seed is kept in a 32-bit signed int, so 4294967294 comes back as -2",
    "seed_range_off_by_one": "the seed's upper bound is 2**32 - 1 instead of 4294967294",
    "seed_float": "the seed is read as a float and truncated: '1.5' is served as seed 1",
    "random_seed_not_used": "a random seed is reported, but the picture is painted with another one",
    "lossy_repainted_randomly": "JPEG and WebP answers are painted again without the seed",
    "lossy_seed_dropped": "JPEG and WebP answers report data.seed 0",
    "alpha_png_only": "the alpha channel is read as the mask only for PNG uploads",
    "alpha_rgba_only": "only RGBA images count as having transparency (not LA, not a palette with tRNS)",
    "large_output_capped": "outputs are capped at 768 px a side (thumbnail() before painting)",
    "cmyk_refused": "images whose colour mode is not RGB, RGBA, L, LA or P are refused",
    "sixteen_bit_refused": "16-bit images are refused ('I' modes are not in the accepted list)",
    "key_case_insensitive": "keys are compared case-insensitively",
    "key_prefix_match": "a key is accepted when it starts with a known key",
    "near_miss_charged": "credits are taken from the account found case-insensitively before the exact key is checked",
    "other_size_mask_ignored": "a mask of another size is replaced by an all-white one (whole image repainted)",
    "other_size_mask_refused": "a mask of another size is refused",
    "empty_mask_repaints_all": "a zero-byte mask part is read as 'repaint everything'",
    "colour_mask_refused": "masks must be greyscale (mode L or 1)",
    "kept_pixels_jpeg_roundtrip": "the input goes through JPEG quality 75 before painting",
    "failure_without_data": "failures carry code and message but no data",
    "success_message_ok": "a success says message 'OK'",
    "urlsafe_base64": "data.image is URL-safe base64 (- and _)",
    "seed_ignored_by_fill": "the fill depends on the prompt only, not the seed",
    "prompt_ascii_crash": "the prompt is encoded as ASCII for the model and crashes on other text (500)",
    "charge_before_validation": "credits are taken before the request is validated and not given back",
    "price_five": "a success costs 5 credits",
    "overdraw": "a key is served while its balance is above 0, not while it holds 6",
    # Vyro
    "vyro_422_validation": "FastAPI's own 422 answer for a missing part is left in place",
    "vyro_201": "a success is answered 201 Created",
    "vyro_octet_stream": "a success's Content-Type is application/octet-stream",
    "vyro_403_wrong_token": "a wrong token gets 403 Forbidden",
    "vyro_mask_optional": "without a mask part the whole image is repainted",
    "vyro_any_pillow_format": "any format Pillow opens is accepted (WebP, GIF, BMP)",
    "vyro_other_size_ignored": "a mask of another size is ignored: the whole image is repainted",
    "vyro_other_size_422": "a mask of another size is refused with 422",
    "vyro_empty_mask_crash": "a zero-byte mask reaches Image.open unchecked (500)",
    "vyro_model_version_unchecked": "any model_version is accepted",
    "vyro_mask_inverted": "the mask is read inverted (black repaints)",
    "vyro_large_capped": "outputs are capped at 768 px a side",
    "vyro_rgb_only": "only RGB and RGBA images are accepted",
    "vyro_bearer_any": "any `Authorization: Bearer` token is accepted",
    "vyro_prompt_none_crash": "the prompt is optional in the signature and .strip() crashes on None (500)",
}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Accounts:
    def __init__(self, keys: dict[str, int]) -> None:
        self.initial = dict(keys)
        self.credits = dict(keys)
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.credits = dict(self.initial)

    def find(self, key: str | None, bug) -> str | None:
        if not key:
            return None
        if bug("key_case_insensitive") or bug("near_miss_charged"):
            return next((k for k in self.credits if k.lower() == key.lower()), None)
        if bug("key_prefix_match"):
            return next((k for k in self.credits if key.startswith(k)), None)
        return key if key in self.credits else None


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_image(data: bytes, allowed: set[str], what: str, any_format: bool = False) -> Image.Image:
    if not any_format and sniff(data) not in allowed:
        raise Refused(400, f"{what} must be one of: {', '.join(sorted(allowed))}")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow: UnidentifiedImageError, DecompressionBombError, OSError...
        raise Refused(400, f"{what} could not be read: {type(exc).__name__}") from None
    if 0 in image.size:
        raise Refused(400, f"{what} has no pixels")
    return image


def blobs(size: tuple[int, int], seed: int, prompt: str) -> Image.Image:
    """Smooth colour blobs: a 6x6 grid of random colours, upscaled bicubic."""
    salt = sum(prompt.encode("utf-8", "replace")) % 997
    grid = np.random.default_rng([seed, salt]).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(grid, "RGB").resize(size, Image.Resampling.BICUBIC)


def paint(image: Image.Image, mask: Image.Image, seed: int, prompt: str, fmt: str, bug) -> bytes:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        base = image.convert("RGBA").convert("RGB")
    else:
        base = image.convert("RGB")
    if bug("kept_pixels_jpeg_roundtrip"):
        buffer = io.BytesIO()
        base.save(buffer, "JPEG", quality=75)
        base = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if mask.size != base.size:
        mask = mask.resize(base.size, Image.Resampling.BICUBIC)
    fill_seed = 0 if bug("seed_ignored_by_fill") else seed
    out = Image.composite(blobs(base.size, fill_seed, prompt), base, mask)
    buffer = io.BytesIO()
    out.save(buffer, fmt.upper(), **SAVE[fmt])
    return buffer.getvalue()


def create_app(keys: dict[str, int]) -> FastAPI:
    app = FastAPI()
    accounts = Accounts(keys)
    app.state.accounts = accounts
    app.state.mutant = None

    def bug(name: str) -> bool:
        return app.state.mutant == name

    def reset(mutant: str | None) -> None:
        if mutant is not None and mutant not in MUTANTS:
            raise ValueError(f"unknown mutant {mutant!r}")
        accounts.reset()
        app.state.mutant = mutant

    app.state.reset = reset

    # -- answers ------------------------------------------------------------------------
    def ait_failure(message: str) -> JSONResponse:
        body = {"code": -1, "message": message}
        if not bug("failure_without_data"):
            body["data"] = None
        return JSONResponse(body)

    def vyro_error(status: int, message: str) -> JSONResponse:
        error = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 422: "Unprocessable Entity"}
        body = {"status": status, "code": status, "error": error.get(status, "Error"), "message": message}
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        where = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "body" for e in exc.errors())
        if request.url.path == AIT_PATH:
            return ait_failure(f"invalid request: {where}")
        if bug("vyro_422_validation"):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        return vyro_error(400, f"invalid request: {where}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path == AIT_PATH:
            return ait_failure(str(exc.detail))
        return vyro_error(exc.status_code if exc.status_code < 500 else 400, str(exc.detail))

    # -- AIThriving ------------------------------------------------------------------------
    @app.post(AIT_PATH)
    async def ait_inpaint(
        image: Annotated[UploadFile, File()],
        prompt: Annotated[str, Form()],
        negative_prompt: Annotated[str | None, Form()] = None,
        mask: Annotated[UploadFile | None, File()] = None,
        seed: Annotated[str | None, Form()] = None,
        output_format: Annotated[Literal["jpeg", "png", "webp"], Form()] = "png",
        authorization: Annotated[str | None, Header()] = None,
    ):
        key = accounts.find(authorization.strip() if authorization else None, bug)
        if key is None:
            return ait_failure("invalid api key")
        if bug("near_miss_charged"):
            with accounts.lock:
                accounts.credits[key] -= PRICE  # reserved before the exact comparison below
            if key != authorization.strip():
                return ait_failure("invalid api key")
            accounts.credits[key] += PRICE
        if bug("charge_before_validation"):
            with accounts.lock:
                accounts.credits[key] -= PRICE
        try:
            picture, used_seed = await ait_paint(image, prompt, mask, seed, output_format)
        except Refused as refused:
            return ait_failure(refused.message)
        with accounts.lock:
            if bug("charge_before_validation"):
                pass  # already taken
            elif accounts.credits[key] < PRICE and not (bug("overdraw") and accounts.credits[key] > 0):
                return ait_failure(f"insufficient credits: {accounts.credits[key]} left, {PRICE} needed")
            else:
                accounts.credits[key] -= 5 if bug("price_five") else PRICE
        encode = base64.urlsafe_b64encode if bug("urlsafe_base64") else base64.b64encode
        lossy = output_format != "png"
        reported = 0 if lossy and bug("lossy_seed_dropped") else used_seed
        if bug("seed_int32"):
            reported = int(np.array([reported], dtype=np.int64).astype(np.int32)[0])
        data = {"image": encode(picture).decode("ascii"), "seed": reported}
        return JSONResponse({"code": 0, "message": "OK" if bug("success_message_ok") else "success", "data": data})

    async def ait_paint(image, prompt, mask, seed, output_format) -> tuple[bytes, int]:
        if not prompt.strip():
            raise Refused(400, "prompt must not be blank")
        if bug("prompt_ascii_crash"):
            prompt.encode("ascii")  # the tokenizer's input: UnicodeEncodeError is not caught
        seed = _seed(seed)  # FastAPI reads an empty field as absent: seed="" is a random seed (A13 allows it)
        picture = open_image(await image.read(), {"jpeg", "png", "webp"}, "image")
        if bug("cmyk_refused") and picture.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16"):
            raise Refused(400, f"unsupported colour mode {picture.mode}")
        if bug("sixteen_bit_refused") and picture.mode.startswith("I"):
            raise Refused(400, "16-bit images are not supported")
        if bug("large_output_capped"):
            picture.thumbnail((768, 768))
        if mask is not None:
            data = await mask.read()
            if not data and bug("empty_mask_repaints_all"):
                strength = Image.new("L", picture.size, 255)
            else:
                strength = open_image(data, {"jpeg", "png", "webp"}, "mask")
                if bug("colour_mask_refused") and strength.mode not in ("L", "1"):
                    raise Refused(400, "the mask must be a greyscale image")
                strength = strength.convert("L")
                if strength.size != picture.size and bug("other_size_mask_refused"):
                    raise Refused(400, "the mask must have the image's size")
                if strength.size != picture.size and bug("other_size_mask_ignored"):
                    strength = Image.new("L", picture.size, 255)
        elif _transparent(picture, bug):
            strength = picture.convert("RGBA").getchannel("A").point(lambda a: 255 - a)
        else:
            raise Refused(400, "send a mask, or an image with transparency")
        sent, seed = seed, seed or secrets.randbelow(SEED_MAX) + 1
        paint_seed = secrets.randbelow(SEED_MAX) + 1 if bug("random_seed_not_used") and not sent else seed
        if output_format != "png" and bug("lossy_repainted_randomly"):
            paint_seed = secrets.randbelow(SEED_MAX) + 1
        return paint(picture, strength, paint_seed, prompt, output_format, bug), seed

    def _seed(text: str | None) -> int | None:
        if text is None:
            return None
        try:
            value = int(float(text)) if bug("seed_float") else int(text.strip(), 10)
        except ValueError:
            raise Refused(400, "seed must be an integer") from None
        if not 0 <= value <= SEED_MAX + bug("seed_range_off_by_one") or "_" in text:
            raise Refused(400, f"seed must be an integer in [0, {SEED_MAX}]")
        return value

    def _transparent(picture: Image.Image, bug) -> bool:
        if bug("alpha_png_only") and picture.format != "PNG":
            return False
        if bug("alpha_rgba_only"):
            return picture.mode == "RGBA"
        return picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info

    @app.get("/credits")
    async def credits(authorization: Annotated[str | None, Header()] = None):
        key = (authorization or "").strip()
        if key not in accounts.credits:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return {"credits": accounts.credits[key]}

    # -- Vyro ----------------------------------------------------------------------------
    @app.post(VYRO_PATH)
    async def vyro_inpaint(
        image: Annotated[UploadFile, File()],
        prompt: Annotated[str | None, Form()] = None,
        mask: Annotated[UploadFile | None, File()] = None,
        model_version: Annotated[str, Form()] = "1",
        bearer: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ):
        token = (bearer or "").strip()
        if bug("vyro_bearer_any") and (authorization or "").lower().startswith("bearer "):
            token = next(iter(accounts.credits))
        if accounts.find(token, bug) is None:
            return vyro_error(403 if token and bug("vyro_403_wrong_token") else 401, "Unauthorized")
        try:
            picture = await vyro_paint(prompt, image, mask, model_version)
        except Refused as refused:
            return vyro_error(refused.status, refused.message)
        media = "application/octet-stream" if bug("vyro_octet_stream") else "image/png"
        return Response(picture, media_type=media, status_code=201 if bug("vyro_201") else 200)

    async def vyro_paint(prompt, image, mask, model_version) -> bytes:
        if prompt is None and not bug("vyro_prompt_none_crash"):
            raise Refused(400, "prompt is required")
        prompt = prompt.strip()  # with the check above forgotten, None.strip() is an AttributeError: 500
        if model_version.strip() != "1" and not bug("vyro_model_version_unchecked"):
            raise Refused(400, "unknown model_version")
        any_format = bug("vyro_any_pillow_format")
        picture = open_image(await image.read(), {"jpeg", "png"}, "image", any_format)
        if bug("vyro_rgb_only") and picture.mode not in ("RGB", "RGBA"):
            raise Refused(400, f"unsupported colour mode {picture.mode}")
        if bug("vyro_large_capped"):
            picture.thumbnail((768, 768))
        if mask is None:
            if not bug("vyro_mask_optional"):
                raise Refused(400, "mask is required")
            strength = Image.new("L", picture.size, 255)
        else:
            data = await mask.read()
            if bug("vyro_empty_mask_crash"):
                strength = Image.open(io.BytesIO(data)).convert("L")  # nothing checked first
            else:
                strength = open_image(data, {"jpeg", "png"}, "mask", any_format).convert("L")
        if strength.size != picture.size:
            if bug("vyro_other_size_422"):
                raise Refused(422, "mask and image sizes differ")
            if bug("vyro_other_size_ignored"):
                strength = Image.new("L", picture.size, 255)
        if bug("vyro_mask_inverted"):
            strength = strength.point(lambda v: 255 - v)
        return paint(picture, strength, secrets.randbelow(SEED_MAX) + 1, prompt, "png", bug)

    return app


__all__ = ["MUTANTS", "create_app"]
