"""Bodies the documents define: the AIThriving envelope, and a Vyro error body.

The fake, the reference and the Ray ingress build every answer with these.
"""

from __future__ import annotations

import base64
import json

AIT_SUCCESS_MESSAGE = "success"
AIT_SUCCESS_CODE, AIT_FAILURE_CODE = 0, -1


def ait_success(image_bytes: bytes, seed: int) -> bytes:
    """A4: code 0, message "success", data {"image": base64, "seed": int}."""
    data = {"image": base64.b64encode(image_bytes).decode("ascii"), "seed": int(seed)}
    return json.dumps({"code": AIT_SUCCESS_CODE, "message": AIT_SUCCESS_MESSAGE, "data": data}).encode()


def ait_failure(message: str) -> bytes:
    """A5: code -1 and a non-empty reason; `data` is present (A3) and null."""
    reason = message.strip() or "request failed"
    return json.dumps({"code": AIT_FAILURE_CODE, "message": reason, "data": None}).encode()


def vyro_error(status: int, message: str) -> bytes:
    """V8 leaves the error body free; this is the shape of Vyro's newer API."""
    error = {
        400: "Bad Request",
        401: "Unauthorized",
        402: "Payment Required",
        413: "Payload Too Large",
        404: "Not Found",
        405: "Method Not Allowed",
        429: "Too Many Requests",
        500: "Internal Server Error",
    }.get(status, "Error")
    return json.dumps({"status": status, "code": status, "error": error, "message": message}).encode()
