"""AIThriving inpaint clauses: the seed document and decisions A1-A21, B1-B6."""

from __future__ import annotations

from .clauses import Api, Citation, Clause, Level, Side

DOC = "aithriving-inpaint.txt"
MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY
SERVER = frozenset({Side.SERVER})
BOTH_SIDES = frozenset({Side.SERVER, Side.CLIENT})


def _c(id_, level, statement, *, quote=None, decision=None, sides=SERVER, topic=""):
    citation = Citation(quote=quote, document=DOC if quote else None, decision=decision)
    return Clause(f"ait.{id_}", Api.AITHRIVING, level, statement, citation, sides, topic or id_.split(".")[0])


CLAUSES: list[Clause] = [
    # A1 transport
    _c(
        "transport.post",
        MUST,
        "The endpoint is POST {base}/api/edit/inpaint; a valid request is answered there, not 404/405.",
        quote="/api/edit/inpaintPOST",
        decision="A1",
        sides=BOTH_SIDES,
    ),
    _c(
        "transport.multipart",
        MUST,
        "The request body is multipart/form-data (image and mask as file parts, the rest as fields).",
        quote='files={\n        "image": open("./your-image.png", "rb"),',
        decision="A1",
        sides=BOTH_SIDES,
    ),
    # A2 auth
    _c(
        "auth.header",
        MUST,
        "The client sends its API key raw in the `authorization` header.",
        quote='"authorization": f"your-auth-token"',
        decision="A2",
        sides=BOTH_SIDES,
    ),
    _c(
        "auth.missing",
        MUST,
        "A request without the `authorization` header gets the failure envelope and is not charged.",
        quote="Use your API key to authentication requests to this App.",
        decision="A2",
        sides=BOTH_SIDES,
    ),
    _c(
        "auth.invalid",
        MUST,
        "A request with an unknown key gets the failure envelope and is not charged.",
        decision="A2",
    ),
    _c(
        "auth.status",
        MAY,
        "An auth failure may be HTTP 401 or 200; either way the body is the failure envelope.",
        decision="A2",
    ),
    # A3/A4/A5 envelope
    _c(
        "envelope.json",
        MUST,
        "Every response body, success or failure, any status, is a JSON object with `code` (int), `message` (str) and `data`.",
        quote="The response should include a JSON object in the body with the following parameters:",
        decision="A3",
    ),
    _c("success.status", MUST, "A success is HTTP 200.", quote="if response.status_code == 200:", decision="A4"),
    _c(
        "success.code",
        MUST,
        'A success has `code` 0 and `message` "success".',
        quote="Status Code, 0 for success callback, -1 for failure callback",
        decision="A4",
    ),
    _c(
        "success.data",
        MUST,
        'A success\'s `data` is an object {"image": <base64 str>, "seed": <int>}; a bare string fails.',
        quote="Return the base64 encoded image of the generated picture.",
        decision="A4",
    ),
    _c(
        "success.image",
        MUST,
        "`data.image` is valid base64 of an image that decodes.",
        quote="Return the base64 encoded image of the generated picture.",
        decision="A4",
    ),
    _c(
        "success.base64",
        SHOULD,
        "`data.image` is standard padded base64 without line breaks (RFC 4648 sections 3.1 and 4).",
        decision="A20",
        topic="success",
    ),
    _c(
        "failure.envelope",
        MUST,
        "A failure has `code` -1 and a non-empty human-readable `message`.",
        quote="Callback message, 'success' for success, failure reason for failure",
        decision="A5",
    ),
    _c(
        "failure.status",
        MAY,
        "A failure's HTTP status may be 200 or a 4xx.",
        quote="raise Exception(str(response.json()))",
        decision="A5",
    ),
    _c("failure.not_5xx", MUST, "A caller error is never answered with a 5xx.", decision="A5, B1"),
    # A6 image
    _c(
        "image.required",
        MUST,
        "The `image` part is required; without it: failure.",
        quote="imagestring <binary>Yes",
        decision="A6",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.formats",
        MUST,
        "JPEG, PNG and WebP images are accepted, the format decided from the bytes.",
        quote="Supported Formats:jpeg、png、webp",
        decision="A6",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.invalid",
        MUST,
        "Corrupt, empty or unsupported image bytes (GIF, BMP, ...) get the failure envelope, never a 5xx.",
        quote="Supported Formats:jpeg、png、webp",
        decision="A6",
        sides=BOTH_SIDES,
    ),
    _c(
        "image.sniffed",
        MUST,
        "The format comes from the bytes, not from the part's filename or Content-Type.",
        decision="A6",
    ),
    # A7 prompt
    _c(
        "prompt.required",
        MUST,
        "`prompt` is required; without it: failure.",
        quote="promptstringYes",
        decision="A7",
        sides=BOTH_SIDES,
    ),
    _c("prompt.blank", MUST, "A `prompt` that is empty after trimming: failure.", decision="A7", sides=BOTH_SIDES),
    _c(
        "negative_prompt.optional",
        MUST,
        "`negative_prompt` is optional and accepted when sent.",
        quote="negative_promptstringNo",
        decision="A7",
    ),
    # A8/A9 mask
    _c(
        "mask.optional",
        MUST,
        "`mask` is optional when the image has an alpha channel.",
        quote="maskstring <binary>No",
        decision="A8",
    ),
    _c(
        "mask.meaning",
        MUST,
        "Mask 0 (black) keeps, 255 (white) repaints: the kept region stays closer to the input than the repainted one.",
        quote="Controls the strength of the inpainting process on a per-pixel basis",
        decision="A8",
    ),
    _c(
        "mask.partial",
        MAY,
        "Mask values between 0 and 255 are a partial strength or cut at a threshold; either is accepted.",
        decision="A8",
    ),
    _c("mask.colour", SHOULD, "A colour (RGB) mask is accepted and read as grey.", decision="A8"),
    _c("mask.resize", SHOULD, "A mask of another size than the image is resized to the image.", decision="A8"),
    _c(
        "mask.format",
        MUST,
        "A JPEG, PNG or WebP mask is accepted (format from the bytes); other mask bytes: failure, never a 5xx.",
        decision="A6, A8",
        sides=BOTH_SIDES,
    ),
    _c(
        "mask.alpha",
        MUST,
        "Without `mask`, the image's alpha channel is the mask: transparent is repainted, opaque kept.",
        quote="either via a second image (passed into this parameter) or via the alpha channel of the image parameter.",
        decision="A9",
    ),
    _c("mask.wins", MUST, "With both a `mask` part and an alpha channel, the `mask` part wins.", decision="A9"),
    _c("mask.absent", MUST, "Neither a mask nor an alpha channel: failure.", decision="A9", sides=BOTH_SIDES),
    # A10/A11 output
    _c("output.size", MUST, "The output image has exactly the input image's width and height.", decision="A10"),
    _c(
        "output_format.enum",
        MUST,
        "`output_format` is one of jpeg, png, webp; any other value: failure.",
        quote="Enum: jpeg png webp",
        decision="A11",
        sides=BOTH_SIDES,
    ),
    _c(
        "output_format.honoured",
        MUST,
        "The decoded `data.image` bytes are in the requested `output_format`.",
        quote="Enum: jpeg png webp",
        decision="A11",
    ),
    _c("output_format.default", MUST, "Without `output_format` the image is PNG.", decision="A11"),
    # A12 kept pixels
    _c(
        "kept_pixels",
        SHOULD,
        "Where the mask is 0, the PNG output equals the input: PSNR >= 40 dB on those pixels.",
        decision="A12",
    ),
    # A13-A16 seed
    _c(
        "seed.range",
        MUST,
        "`seed` is in [0, 4294967294]; negative or larger: failure, not charged.",
        quote="[ 0 .. 4294967294 ]",
        decision="A13",
        sides=BOTH_SIDES,
    ),
    _c(
        "seed.integer",
        MUST,
        '`seed` is an integer; "1.5", "abc" or " ": failure, not charged.',
        quote="seednumberNo",
        decision="A13",
        sides=BOTH_SIDES,
    ),
    _c(
        "seed.empty",
        MAY,
        (
            "An empty `seed` field may be served as if it were omitted (a random seed, charged like any success) "
            "or refused (a failure, not charged)."
        ),
        decision="A13",
    ),
    _c(
        "seed.echo",
        MUST,
        "A non-zero seed is echoed unchanged in `data.seed`.",
        quote="The seed used as random noise for this generation.",
        decision="A14",
    ),
    _c(
        "seed.random_range",
        MUST,
        "With seed 0 or none, `data.seed` is the seed the server picked, in [1, 4294967294].",
        quote="(Omit this parameter or pass 0 to use a random seed.)",
        decision="A15",
    ),
    _c("seed.random_differs", SHOULD, "Two requests with seed 0 report different seeds.", decision="A15"),
    _c(
        "seed.sensitivity",
        SHOULD,
        "Two requests that differ only in their non-zero seed repaint differently.",
        quote="A specific value that is used to guide the 'randomness' of the generation.",
        decision="A21",
    ),
    _c(
        "reproducible",
        SHOULD,
        "Same image, mask, prompts, output_format and non-zero seed: same output (identical PNG or PSNR >= 40 dB).",
        quote="A specific value that is used to guide the 'randomness' of the generation.",
        decision="A16",
    ),
    # A17/A18 credits
    _c(
        "credits.success",
        MUST,
        "A successful result costs exactly 6 credits.",
        quote="The service uses 6 credits per successful result.",
        decision="A17",
    ),
    _c(
        "credits.failure",
        MUST,
        "A failed result costs nothing.",
        quote="You will not be charged for failed results.",
        decision="A17",
    ),
    _c(
        "credits.insufficient",
        MUST,
        "A key with fewer than 6 credits gets a failure, is not charged, and its balance never goes negative.",
        decision="A17",
    ),
    _c("credits.isolation", MUST, "A request charges only the key that sent it.", decision="A18"),
    _c(
        "credits.concurrent",
        MUST,
        (
            "Requests that overlap on one key are charged as if they came one after another: the balance falls by "
            "exactly 6 per success the client saw, failures cost nothing, and every request gets one answer."
        ),
        quote="The service uses 6 credits per successful result.",
        decision="A17",
    ),
    _c(
        "credits.no_overdraft",
        MUST,
        (
            "A key holding credits for k results that gets more than k requests at once serves at most k of them; "
            "its balance never goes below 0 and ends at its start minus 6 per success."
        ),
        decision="A17",
    ),
    _c(
        "credits.sequence",
        MUST,
        (
            "Over any sequence of requests (successes, each kind of failure, other keys, balance reads) every key's "
            "balance is its start minus 6 per success it sent: never negative, never moved by another key's request."
        ),
        decision="A17, A18",
    ),
    # A19, B1-B5
    _c("unknown_fields", MAY, "Extra form fields are ignored or refused; either way never a 5xx.", decision="A19"),
    _c(
        "robust.malformed",
        MUST,
        (
            "Truncated multipart, a 0x0 or decompression-bomb image or a huge prompt never yield a 5xx or a hang, "
            "and a refused input is never charged; no other input (an unknown field, an odd mask, text that is not "
            "UTF-8) yields a 5xx or a hang either."
        ),
        decision="B1",
        sides=BOTH_SIDES,
    ),
    _c(
        "text.non_utf8",
        MAY,
        (
            "A text field that is not valid UTF-8 (and names no other charset) may be refused (a failure, not "
            "charged) or served as the server decoded it (a success, charged like any success)."
        ),
        decision="B1",
    ),
    _c(
        "limits.size", MAY, "Uploads over a size limit may be refused with 413 and the failure envelope.", decision="B2"
    ),
    _c(
        "limits.dimensions",
        MAY,
        "Images under 64 or over 4096 px a side and prompts over 10,000 characters may be refused.",
        decision="B4",
    ),
    _c("rate.limit", MAY, "A 429 may come at any time, with the failure envelope; it is never charged.", decision="B5"),
    _c("rate.retry_after", SHOULD, "A 429 carries a Retry-After header.", decision="B5"),
]
