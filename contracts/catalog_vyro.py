"""Vyro Imagine inpaint clauses: the seed document and decisions V1-V9, B1-B6."""

from __future__ import annotations

from .clauses import Api, Citation, Clause, Level, Side

DOC = "vyro-imagine-inpaint.txt"
MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY
SERVER = frozenset({Side.SERVER})
BOTH_SIDES = frozenset({Side.SERVER, Side.CLIENT})


def _c(id_, level, statement, *, quote=None, decision=None, sides=SERVER, topic=""):
    citation = Citation(quote=quote, document=DOC if quote else None, decision=decision)
    return Clause(f"vyro.{id_}", Api.VYRO, level, statement, citation, sides, topic or id_.split(".")[0])


CLAUSES: list[Clause] = [
    # V1 transport
    _c(
        "transport.post",
        MUST,
        "The endpoint is POST {base}/v1/imagine/api/edits/inpaint; a valid request is answered there, not 404/405.",
        quote="Endpoint: https://api.vyro.ai/v1/imagine/api**/edits/inpaint**",
        decision="V1",
        sides=BOTH_SIDES,
    ),
    _c(
        "transport.multipart",
        MUST,
        "The request body is multipart/form-data.",
        quote="The request must be sent as multipart/form data",
        decision="V1",
        sides=BOTH_SIDES,
    ),
    # V2 auth
    _c(
        "auth.header",
        MUST,
        "The client sends its token in the header named `bearer`.",
        quote="'bearer': '<Your bearer token here>'",
        decision="V2",
        sides=BOTH_SIDES,
    ),
    _c(
        "auth.missing",
        MUST,
        "A request without a token gets 401.",
        quote="401 | Unauthorized: Authentication is required or has failed. |",
        decision="V2",
        sides=BOTH_SIDES,
    ),
    _c(
        "auth.invalid",
        MUST,
        "A request with a wrong token gets 401.",
        quote="401 | Unauthorized: Authentication is required or has failed. |",
        decision="V2",
    ),
    _c(
        "auth.authorization_bearer",
        MAY,
        "`Authorization: Bearer <token>` may also be accepted; never a 5xx.",
        decision="V2",
    ),
    # V3 success
    _c(
        "success.status",
        MUST,
        "A success is HTTP 200.",
        quote="200 | Success: The request was successful, and the inpainted image was generated as expected. |",
        decision="V3",
    ),
    _c(
        "success.content_type",
        MUST,
        "A success has `Content-Type: image/png`.",
        quote="The endpoint responds with an image/png",
        decision="V3",
    ),
    _c(
        "success.png",
        MUST,
        "A success's body is a PNG that decodes.",
        quote="file containing the inpainted result.",
        decision="V3",
    ),
    _c("output.size", MUST, "The output PNG has the input image's width and height.", decision="V3"),
    # V4 required parts
    _c(
        "prompt.required",
        MUST,
        "`prompt` is required; without it: 400.",
        quote="prompt | String | The text describing the desired inpainted result. | - | - | No |",
        decision="V4",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.required",
        MUST,
        "`image` is required; without it: 400.",
        quote="image | Upload file | The input image to be inpainted. | - | jpeg/jpg, png | No |",
        decision="V4",
        sides=BOTH_SIDES,
    ),
    _c(
        "mask.required",
        MUST,
        "`mask` is required; without it: 400.",
        quote="mask | Upload file | The mask indicating the areas to be inpainted. | - | - | No |",
        decision="V4",
        sides=BOTH_SIDES,
    ),
    # V5 formats
    _c(
        "image.formats",
        MUST,
        "JPEG and PNG images are accepted, the format decided from the bytes.",
        quote="jpeg/jpg, png",
        decision="V5",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.invalid",
        MUST,
        "WebP, GIF, BMP, corrupt or empty image bytes: 400, never a 5xx.",
        quote="Causes can include missing image files, invalid input image formats, or unsupported mask types.",
        decision="V5",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.sniffed",
        MUST,
        "The format comes from the bytes: the official SDK labels every upload image/jpeg.",
        decision="V5",
    ),
    _c("mask.formats", MUST, "JPEG and PNG masks are accepted.", decision="V5", sides=BOTH_SIDES),
    _c(
        "mask.invalid",
        MUST,
        "A mask that is not a JPEG or PNG: 400, never a 5xx.",
        quote="Causes can include missing image files, invalid input image formats, or unsupported mask types.",
        decision="V5",
        sides=BOTH_SIDES,
    ),
    # V6 model_version
    _c(
        "model_version.default",
        MUST,
        '`model_version` is optional (default "1"), and "1" is always accepted.',
        quote='model_version | String | The version of the inpainting model. | "1" |',
        decision="V6",
    ),
    _c("model_version.unknown", SHOULD, "An unknown `model_version`: 400.", decision="V6", sides=BOTH_SIDES),
    # V7 mask meaning
    _c(
        "mask.meaning",
        SHOULD,
        "White repaints, black keeps: the kept region stays closer to the input than the repainted one.",
        quote="The mask indicating the areas to be inpainted.",
        decision="V7",
    ),
    _c(
        "kept_pixels",
        SHOULD,
        "Where the mask is 0 the output equals the input: PSNR >= 40 dB on those pixels.",
        decision="V7, A12",
    ),
    _c(
        "mask.partial",
        MAY,
        "Mask values between 0 and 255 are a partial strength or cut at a threshold; either is accepted.",
        decision="A8",
    ),
    # V8/V9 errors
    _c(
        "errors.4xx",
        MUST,
        "A caller error is a 4xx, never a 5xx.",
        quote="400 | Bad Request: The request is malformed or incomplete.",
        decision="V8, B1",
    ),
    _c(
        "errors.body",
        MAY,
        "The error body is free (Vyro's newer API answers JSON {status, code, error, message}); it is shown, never judged.",
        decision="V8",
    ),
    _c(
        "mask.size",
        MUST,
        "A mask of another size than the image is resized, or refused with 400; never a 5xx.",
        decision="V9",
    ),
    _c(
        "unknown_fields",
        MAY,
        "Extra form fields are ignored or refused with a 4xx; either way never a 5xx.",
        decision="A19, V8",
    ),
    # B1-B5
    _c(
        "robust.malformed",
        MUST,
        (
            "Truncated multipart, a 0x0 or decompression-bomb image or a huge prompt never yield a 5xx or a hang; "
            "nor does any other input (an unknown field, an odd mask, another auth header, text that is not UTF-8)."
        ),
        decision="B1",
        sides=BOTH_SIDES,
    ),
    _c(
        "text.non_utf8",
        MAY,
        "A text field that is not valid UTF-8 (and names no other charset) may be refused with a 4xx or served as "
        "the server decoded it.",
        decision="B1",
    ),
    _c("limits.size", MAY, "Uploads over a size limit may be refused with 413.", decision="B2"),
    _c(
        "limits.dimensions",
        MAY,
        "Images under 64 or over 4096 px a side and prompts over 10,000 characters may be refused.",
        decision="B4",
    ),
    _c("rate.limit", MAY, "A 429 may come at any time, and 402 when the account has no quota left.", decision="B5"),
    _c("rate.retry_after", SHOULD, "A 429 carries a Retry-After header.", decision="B5"),
]
