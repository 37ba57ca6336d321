"""`verify` against small servers nobody on the team wrote the harness for.

The server below is written from the two documents only (it imports nothing from
contracts/ or fakes/; the tests host it with fakes.server.serving). Each test turns on
allowed choices, which must not raise a false alarm, or one realistic bug, which must
fail the clause at the level the decisions give it. The bugs here were each missed
once: a 5xx on an input whose own clause is only SHOULD or MAY (B1's floor is a MUST),
a mask in another format than PNG, a charged 429.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import threading

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.cli import main

LIMIT = 4294967294
AIT_FIELDS = {"image", "mask", "prompt", "negative_prompt", "seed", "output_format"}
MAIN, SECOND, LOW = "adv-main-key-0123456789", "adv-second-key-0123456789", "adv-low-key-0123"


class Refuse(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def load(data: bytes, allowed: set[str], what: str) -> Image.Image:
    if sniff(data) not in allowed:
        raise Refuse(400, f"{what}: send one of {sorted(allowed)}")
    try:
        image = Image.open(io.BytesIO(data))
        if 0 in image.size or image.size[0] * image.size[1] > 4096 * 4096:
            raise Refuse(400, f"{what}: unusable size")
        image.load()
    except Refuse:
        raise
    except Exception:
        raise Refuse(400, f"{what}: does not decode") from None
    return image


class Server:
    """Both APIs; `choices` are allowed variations, `bug` one defect."""

    def __init__(self, choices: set[str] = frozenset(), bug: str | None = None) -> None:
        self.choices, self.bug = set(choices), bug
        self.credits = {MAIN: 10**6, SECOND: 10**6, LOW: 3}
        self.lock = threading.Lock()
        self.throttle = {"ait": 1, "vyro": 1} if "throttle" in self.choices else {"ait": 0, "vyro": 0}

    async def form(self, request: Request) -> dict:
        try:
            form = await request.form()
            out: dict = {}
            for name, value in form.multi_items():
                if isinstance(value, str) and any("\x80" <= ch <= "\xff" for ch in value):
                    value.encode("latin-1").decode("utf-8")  # Starlette fell back to latin-1: not UTF-8
                out.setdefault(name, (await value.read()) if hasattr(value, "read") else value)
            return out
        except (UnicodeError, ValueError, KeyError, AssertionError) as exc:
            raise Refuse(400, f"bad multipart body: {type(exc).__name__}") from None
        except Exception as exc:
            raise Refuse(400, f"bad body: {type(exc).__name__}") from None

    def paint(self, image: Image.Image, mask: Image.Image, seed: int, fmt: str) -> bytes:
        noise = np.random.RandomState(seed % 2**32).randint(0, 256, (image.size[1], image.size[0], 3)).astype(np.uint8)
        out = Image.composite(Image.fromarray(noise), image.convert("RGB"), mask.point(lambda v: 255 if v > 127 else 0))
        buffer = io.BytesIO()
        out.save(
            buffer, {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt], **({"quality": 40} if fmt != "png" else {})
        )
        return buffer.getvalue()

    def reply(self, body: bytes, status: int, media: str) -> Response:
        headers = {}
        if "headers" in self.choices:
            headers = {
                "Access-Control-Allow-Origin": "*",
                "X-Request-Id": "r-1",
                "Connection": "close",
                "Cache-Control": "no-store",
            }
        if "charset" in self.choices and media == "application/json":
            media = "application/json; charset=utf-8"
        if "chunked" in self.choices:

            async def chunks():
                for i in range(0, len(body), 1000):
                    yield body[i : i + 1000]

            return StreamingResponse(chunks(), status_code=status, media_type=media, headers=headers)
        return Response(body, status_code=status, media_type=media, headers=headers)

    # -- AIThriving -------------------------------------------------------------------------------
    def ait_failure(self, status: int, text: str, headers: dict | None = None) -> Response:
        if "failures_200" in self.choices and status not in (413, 429):
            status = 200
        envelope = {"code": -1, "message": f"inpaint failed: {text}", "data": None}
        if "extra_fields" in self.choices:
            envelope.update(request_id="r-1", data="")
        response = self.reply(json.dumps(envelope).encode(), status, "application/json")
        response.headers.update(headers or {})
        return response

    async def ait(self, request: Request) -> Response:
        key = request.headers.get("Authorization", "")
        if self.throttle["ait"] > 0:
            self.throttle["ait"] -= 1
            if self.bug == "charge_429" and key in self.credits:
                self.credits[key] -= 6
            return self.ait_failure(429, "slow down", {"Retry-After": "1"})
        try:
            if key not in self.credits:
                raise Refuse(401, "unknown api key")
            form = await self.form(request)
            return await asyncio.to_thread(self._ait, key, form)
        except Refuse as refusal:
            return self.ait_failure(refusal.status, refusal.text)
        except Exception as exc:  # the engine crashed: the server's own failure
            return self.ait_failure(500, f"internal error ({type(exc).__name__})")

    def _ait(self, key: str, form: dict) -> Response:
        prompt = form.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise Refuse(400, "prompt is required")
        if self.bug == "unknown_field_crash" and set(form) - AIT_FIELDS:
            raise KeyError(sorted(set(form) - AIT_FIELDS)[0])
        if not isinstance(form.get("image"), bytes):
            raise Refuse(400, "image is required")
        image = load(form["image"], {"jpeg", "png", "webp"}, "image")
        seed_text = form.get("seed")
        seed = 0
        if seed_text is not None:
            if not str(seed_text).strip().lstrip("-").isdigit():
                raise Refuse(400, "seed must be an integer")
            seed = int(seed_text)
            if not 0 <= seed <= LIMIT:
                raise Refuse(400, "seed out of range")
        fmt = form.get("output_format") or "png"
        if fmt not in ("png", "jpeg", "webp"):
            raise Refuse(400, "output_format must be png, jpeg or webp")
        if isinstance(form.get("mask"), bytes):
            mask = load(form["mask"], {"png"} if self.bug == "png_masks_only" else {"jpeg", "png", "webp"}, "mask")
            if self.bug == "colour_mask_crash" and mask.mode == "RGB":
                raise ValueError("expected a single-channel mask")
            mask = mask.convert("L")
            if mask.size != image.size:
                if self.bug == "mask_size_crash":
                    raise ValueError("operands could not be broadcast together")
                mask = mask.resize(image.size, Image.Resampling.NEAREST)
        elif image.mode in ("RGBA", "LA") or "transparency" in image.info:
            mask = image.convert("RGBA").getchannel("A").point(lambda a: 255 - a)
        else:
            raise Refuse(400, "send a mask or an image with transparency")
        seed = seed or random.SystemRandom().randint(1, LIMIT)
        picture = self.paint(image, mask, seed, fmt)
        with self.lock:
            if self.credits[key] < 6:
                raise Refuse(402, "not enough credits")
            self.credits[key] -= 6
        encoded = base64.b64encode(picture).decode()
        if self.bug == "base64_lines":
            encoded = base64.encodebytes(picture).decode()
        if self.bug == "data_url":
            encoded = "data:image/png;base64," + encoded
        data = {"image": encoded, "seed": seed}
        envelope = {"code": 0, "message": "success", "data": data}
        if "extra_fields" in self.choices:
            data.update(width=image.size[0], height=image.size[1], format=fmt)
            envelope.update(request_id="r-2", cost=6)
        return self.reply(json.dumps(envelope).encode(), 200, "application/json")

    def balance(self, request: Request) -> Response:
        key = request.headers.get("authorization")
        if key not in self.credits:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return JSONResponse({"credits": self.credits[key]})

    # -- Vyro -------------------------------------------------------------------------------------
    def vyro_error(self, status: int, text: str, headers: dict | None = None) -> Response:
        if "json_errors" in self.choices:
            return JSONResponse(
                {"status": status, "code": status, "error": "Error", "message": text},
                status_code=status,
                headers=headers,
            )
        return Response(f"<h1>{status}</h1><p>{text}</p>", status_code=status, media_type="text/html", headers=headers)

    async def vyro(self, request: Request) -> Response:
        if self.throttle["vyro"] > 0:
            self.throttle["vyro"] -= 1
            return self.vyro_error(429, "rate limited", {"Retry-After": "1"})
        if self.bug == "authorization_crash" and request.headers.get("authorization"):
            return self.vyro_error(500, "'NoneType' object has no attribute 'split'")
        if request.headers.get("BEARER") not in self.credits:
            return self.vyro_error(401, "Unauthorized", {"WWW-Authenticate": "Bearer"})
        try:
            form = await self.form(request)
            picture = await asyncio.to_thread(self._vyro, form)
        except Refuse as refusal:
            return self.vyro_error(refusal.status, refusal.text)
        return self.reply(picture, 200, "image/png")

    def _vyro(self, form: dict) -> bytes:
        if not isinstance(form.get("prompt"), str):
            raise Refuse(400, "prompt missing")
        for part in ("image", "mask"):
            if not isinstance(form.get(part), bytes):
                raise Refuse(400, f"{part} missing")
        if form.get("model_version") not in (None, "1"):
            raise Refuse(400, "unknown model_version")
        image = load(form["image"], {"jpeg", "png"}, "image")
        mask = load(form["mask"], {"jpeg", "png"}, "mask").convert("L").resize(image.size, Image.Resampling.NEAREST)
        return self.paint(image, mask, random.randint(1, LIMIT), "png")


def create_app(choices: set[str] = frozenset(), bug: str | None = None, prefix: str = "") -> Starlette:
    server = Server(choices, bug)
    routes = [
        Route("/api/edit/inpaint", server.ait, methods=["POST"]),
        Route("/v1/imagine/api/edits/inpaint", server.vyro, methods=["POST"]),
        Route("/balance", server.balance, methods=["GET"]),
    ]
    app = Starlette(routes=[Mount(prefix, routes=routes)] if prefix else routes)
    if "gzip" in choices:
        app.add_middleware(GZipMiddleware, minimum_size=10)
    return app


def verify(
    tmp_path, choices=frozenset(), bug=None, *, api: str | None = None, prefix: str = ""
) -> tuple[int, dict[str, dict]]:
    report = tmp_path / "report.json"
    with serving(create_app(set(choices), bug, prefix)) as server:
        base = server.url + prefix
        argv = [
            "verify",
            "--base-url",
            base + "/",
            "--api-key",
            MAIN,
            "--api-key",
            SECOND,
            "--low-credit-key",
            LOW,
            "--credits-url",
            f"{base}/balance",
            "--examples",
            "1",
            "--yes",
            "--json-report",
            str(report),
        ]
        code = main(argv + (["--api", api] if api else []))
    return code, {r["clause"]: r for r in json.loads(report.read_text())["results"]}


def failed(results: dict[str, dict]) -> dict[str, str]:
    return {clause: r["level"] for clause, r in results.items() if r["status"] == "failed"}


def test_allowed_choices_raise_no_false_alarm(tmp_path):
    """gzip, chunked bodies, a charset, CORS and Connection: close, extra envelope fields,
    failures with HTTP 200, HTML or JSON Vyro errors, a path prefix, a 429 with Retry-After,
    lossy encoders at low quality: all free (B6, A5, V8)."""
    choices = {"gzip", "chunked", "charset", "headers", "extra_fields", "failures_200", "throttle", "json_errors"}
    code, results = verify(tmp_path, choices, prefix="/gateway/v2")
    assert failed(results) == {}
    assert code == 0
    assert results["ait.rate.retry_after"]["status"] == results["vyro.rate.retry_after"]["status"] == "passed"


@pytest.mark.parametrize(
    "bug, clause, api",
    [
        ("colour_mask_crash", "ait.mask.colour", "aithriving"),  # SHOULD clause, MUST floor
        ("mask_size_crash", "ait.mask.resize", "aithriving"),  # SHOULD clause, MUST floor
        ("unknown_field_crash", "ait.unknown_fields", "aithriving"),  # MAY clause, MUST floor
        ("authorization_crash", "vyro.auth.authorization_bearer", "vyro"),  # MAY clause, MUST floor
    ],
)
def test_a_5xx_fails_the_b1_floor_whatever_the_level_of_the_probed_clause(tmp_path, bug, clause, api):
    code, results = verify(tmp_path, bug=bug, api=api)
    prefix = "ait" if api == "aithriving" else "vyro"
    assert results[clause]["status"] == "failed"
    assert results[f"{prefix}.robust.malformed"]["status"] == "failed"
    assert "(B1)" in results[f"{prefix}.robust.malformed"]["detail"]
    assert code == 1


def test_an_aithriving_server_refusing_jpeg_and_webp_masks_fails(tmp_path):
    code, results = verify(tmp_path, bug="png_masks_only", api="aithriving")
    assert failed(results) == {"ait.mask.format": "MUST"}
    assert code == 1


def test_a_charged_429_fails_the_failure_credit_clause(tmp_path):
    code, results = verify(tmp_path, {"throttle"}, bug="charge_429", api="aithriving")
    assert failed(results) == {"ait.credits.failure": "MUST", "ait.rate.limit": "MAY"}
    assert code == 1


def test_line_wrapped_base64_fails_the_should_and_says_why(tmp_path):
    """A20: RFC 4648 section 3.1 forbids line feeds, but the documented client decodes them: a SHOULD."""
    code, results = verify(tmp_path, bug="base64_lines", api="aithriving")
    assert code == 0
    assert results["ait.success.base64"]["status"] == "failed"
    assert "line breaks" in results["ait.success.base64"]["detail"]
    assert results["ait.success.image"]["status"] == "passed"
    assert results["ait.kept_pixels"]["status"] == "passed"  # the pictures were read and judged


def test_clauses_about_a_picture_that_did_not_decode_are_not_passed(tmp_path):
    """With every data.image unreadable (a data: URL), nothing was seen of its size, format or pixels."""
    code, results = verify(tmp_path, bug="data_url", api="aithriving")
    assert code == 1
    for clause_id in ("ait.output.size", "ait.output_format.default", "ait.output_format.honoured", "ait.kept_pixels"):
        assert results[clause_id]["status"] != "passed", (clause_id, results[clause_id]["detail"])
    assert results["ait.seed.echo"]["status"] == "passed"  # the envelope's seed was still read
