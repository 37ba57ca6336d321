"""How the project reads the two documents: one decision per row, with its level and reasons.

The seed documents are short, and in places silent or self-contradictory. Each row
here settles one question; clauses cite rows by id (`Citation.decision`, e.g. "A13"),
`docs/decisions.md` is generated from this table (a test fails when it is stale), and
the HTML report shows the rows a run's clauses cite. Levels follow RFC 2119: MUST fails
`verify`, SHOULD is reported (and fails with `--strict`), MAY accepts both behaviours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    id: str  # "A13", "V2", "B1"
    topic: str
    decision: str  # what the project holds a server (or client) to
    level: str  # as the row states it: "MUST", or "envelope MUST; status MAY"
    why: str  # the reasoning, in a sentence or two

    @property
    def anchor(self) -> str:
        """The id of this row's heading in docs/decisions.md and in the HTML report."""
        return f"decision-{self.id.lower()}"


DECISIONS: tuple[Decision, ...] = (
    # -- AIThriving -----------------------------------------------------------------------
    Decision(
        "A1",
        "transport",
        "`POST {base}/api/edit/inpaint` with a `multipart/form-data` body.",
        "MUST",
        "The endpoint table names the path and method, and the example sends `files=`; the prose's "
        '"JSON object in the body" is contradicted by every example, so multipart wins.',
    ),
    Decision(
        "A2",
        "auth",
        "The raw key goes in the `authorization` header. A missing or unknown key gets the "
        "failure envelope and costs nothing; its HTTP status may be 401 or 200.",
        "envelope MUST; status MAY",
        "The example sends `authorization: <key>` with no scheme. The document never says which status an "
        "auth failure has, and its example client handles both.",
    ),
    Decision(
        "A3",
        "envelope",
        "Every answer, success or failure, whatever its status, is a JSON object with "
        "`code` (int), `message` (str) and `data`.",
        "MUST",
        "The response table lists the three fields for every answer; a client reads `code` before anything.",
    ),
    Decision(
        "A4",
        "success",
        'HTTP 200, `code` 0, `message` "success", and `data` an object `{"image": <base64>, "seed": <int>}`.',
        "MUST",
        "The example response's bare-string `data` contradicts the parameter table, which names `data.image` "
        "and `data.seed`; the table is the normative part, so a bare string fails.",
    ),
    Decision(
        "A5",
        "failure",
        "`code` -1 and a non-empty reason in `message`. The HTTP status of a failure may be "
        "200 or any 4xx; a caller's error is never a 5xx (B1).",
        "envelope MUST; 200 or 4xx MAY",
        "The document gives the codes but not the status; the example client checks `status_code == 200` "
        "and then `code`, and raises on anything else, so both conventions work with it.",
    ),
    Decision(
        "A6",
        "input formats",
        "`image` is JPEG, PNG or WebP, decided from the bytes. Corrupt, empty or "
        "unsupported bytes get the failure envelope, never a 5xx.",
        "MUST",
        '"Supported Formats: jpeg, png, webp". Filenames and part Content-Types lie in real clients.',
    ),
    Decision(
        "A7",
        "prompt",
        "`prompt` is required and must not be blank after trimming; `negative_prompt` is optional.",
        "MUST",
        "The table marks `prompt` required; an all-space prompt describes nothing.",
    ),
    Decision(
        "A8",
        "mask",
        "`mask` is optional. Per pixel, 0 (black) keeps and 255 (white) repaints; values in "
        "between are a partial strength or cut at a threshold, either allowed, so only exact 0 and 255 are "
        "judged. Colour masks are read as grey. A mask of another size is resized to the image.",
        "0 and 255 MUST; in between MAY; resize SHOULD",
        '"Controls the strength of the inpainting process on a per-pixel basis". diffusers binarises masks, '
        "other engines blend: both are real. Probes use grey colours so every RGB-to-grey formula agrees.",
    ),
    Decision(
        "A9",
        "alpha mask",
        "Without a `mask` part the image's alpha channel is the mask: transparent "
        "(alpha 0) is repainted, opaque kept. With both, the `mask` part wins. With neither: a failure.",
        "MUST",
        "The document offers the alpha channel as the other way to pass the mask; an image with "
        "neither says nothing about where to paint.",
    ),
    Decision(
        "A10",
        "output size",
        "The output image has exactly the input's width and height.",
        "MUST",
        "Inpainting edits a picture; a client pastes or compares it at the size it sent.",
    ),
    Decision(
        "A11",
        "output format",
        "`output_format` is one of jpeg, png, webp (default png), and the decoded "
        "`data.image` is in that format; any other value is a failure.",
        "MUST",
        "The document's enum; png is the only lossless choice and the usual default.",
    ),
    Decision(
        "A12",
        "kept pixels",
        "Where the mask is 0 the output equals the input: PSNR of at least 40 dB on "
        "those pixels, judged on PNG output only (lossy formats are not judged pixel by pixel).",
        "SHOULD",
        "The document does not promise untouched pixels, but a provider that changes them is visibly worse; "
        "40 dB allows an encoder round trip and nothing a person would see.",
    ),
    Decision(
        "A13",
        "seed range",
        "`seed` is an integer in [0, 4294967294]. Negative, larger, or not an integer "
        '("1.5", "abc", " ", "1e3", "0x1f"): a failure, not charged. Other spellings of an integer in '
        'range (spaces around it `" 42 "`, a plus sign `+5`, `-0`, leading zeros `007`): a server MAY '
        "accept them as that integer or refuse them; a client is not faulted for them. An empty field "
        '(`seed=""`) is the server\'s choice too: served as if omitted (a random seed, charged like any '
        "success) or refused (a failure, not charged).",
        "MUST; other spellings and the empty field MAY",
        "The document's range, and a type (`number`) without a spelling. Form fields are text, and "
        "servers read them with their language's parser (Python's int() takes spaces and a sign, "
        "JavaScript's Number() too, Go's Atoi neither): judging those spellings either way would fault "
        "correct servers, so neither answer is a violation. The fake accepts them (as int() reads them). "
        'Stock FastAPI reads an empty form field as absent, so `seed=""` is served with a random seed '
        "there; the document does not say an empty field is an error, and a server that refuses it is as right.",
    ),
    Decision(
        "A14",
        "seed echo",
        "A non-zero seed is echoed unchanged in `data.seed`.",
        "MUST",
        '`data.seed` is "the seed used"; a client replays a picture with it.',
    ),
    Decision(
        "A15",
        "random seed",
        "With seed 0 or no seed the server picks one and reports it in `data.seed`, "
        "inside [1, 4294967294] so it can be replayed; two such requests report different seeds.",
        "MUST in range; different SHOULD",
        '"Omit this parameter or pass 0 to use a random seed"; a '
        "reported seed that cannot be sent back is useless, and a constant one is not random.",
    ),
    Decision(
        "A16",
        "reproducible",
        "The same image, mask, prompts, output format and non-zero seed give the "
        "same output: byte-identical PNG, or at least 40 dB PSNR.",
        "SHOULD",
        'The seed "guides the randomness"; GPUs are not always bit-exact, so near-identical is enough.',
    ),
    Decision(
        "A17",
        "credits",
        "6 credits per successful result, 0 for any failure; a balance never goes "
        "negative, and a key with fewer than 6 credits gets a failure and is not charged.",
        "MUST",
        '"The service uses 6 credits per successful result. You will not be charged for failed results." '
        "This holds under concurrency too: two overlapping requests are two charges, never one or three.",
    ),
    Decision(
        "A18",
        "isolation",
        "A request charges only the key that sent it.",
        "MUST",
        "Credits belong to an account; any other reading is a billing bug.",
    ),
    Decision(
        "A19",
        "unknown fields",
        "Extra form fields are ignored or refused; either way never a 5xx.",
        "MAY",
        "The document lists the fields it reads and says nothing of others.",
    ),
    Decision(
        "A20",
        "base64",
        "`data.image` is standard padded base64 (RFC 4648 section 4). Line breaks inside it "
        "are a SHOULD failure, not a MUST one.",
        "SHOULD",
        "RFC 4648 section 3.1 forbids line breaks unless a specification asks for them, but the documented "
        "client (Python's `b64decode`) and browsers' `atob` decode them, so no client breaks on them.",
    ),
    Decision(
        "A21",
        "seed sensitivity",
        "Two requests that differ only in their non-zero seed repaint differently; kept pixels are unaffected.",
        "SHOULD",
        "A server that ignores the seed makes the field meaningless, though no sentence forbids it.",
    ),
    # -- Vyro -----------------------------------------------------------------------------
    Decision(
        "V1",
        "transport",
        "`POST {base}/v1/imagine/api/edits/inpaint` with a `multipart/form-data` body.",
        "MUST",
        'The endpoint line and "The request must be sent as multipart/form data".',
    ),
    Decision(
        "V2",
        "auth",
        "The token goes in a header named `bearer` (the official SDK sends `Bearer: <token>`, "
        "the same header). A missing or wrong token gets 401. Also accepting `Authorization: Bearer <token>` "
        "is allowed.",
        "401 MUST; the other header MAY",
        "The example's headers dict is `{'bearer': token}`; 401 is the document's status for failed auth.",
    ),
    Decision(
        "V3",
        "success",
        "HTTP 200, `Content-Type: image/png`, and a PNG body that decodes, at the input's width and height.",
        "MUST",
        '"The endpoint responds with an image/png file".',
    ),
    Decision(
        "V4",
        "required parts",
        "`prompt`, `image` and `mask` are required; a missing one gets 400.",
        "MUST",
        'The parameter table marks all three as not optional; 400 is "malformed or incomplete".',
    ),
    Decision(
        "V5",
        "formats",
        "`image` and `mask` are JPEG or PNG, decided from the bytes; WebP, GIF, BMP, "
        "corrupt or empty bytes get 400, never a 5xx.",
        "MUST",
        '"jpeg/jpg, png", and 400 names "invalid input image formats, or unsupported mask types". The '
        "official SDK labels every upload image/jpeg, so labels cannot be trusted.",
    ),
    Decision(
        "V6",
        "model_version",
        '`model_version` is optional, default "1", and "1" is always accepted; an unknown version gets 400.',
        '"1" MUST; 400 SHOULD',
        'The table\'s default is "1"; the document lists no other version.',
    ),
    Decision(
        "V7",
        "mask meaning",
        "White repaints, black keeps, and kept pixels follow A12.",
        "SHOULD",
        'The document calls the mask "the areas to be inpainted" without saying which colour; white for '
        '"paint here" is every inpainting tool\'s convention.',
    ),
    Decision(
        "V8",
        "errors",
        "Only 400, 401 and 500 are documented; a caller's error is a 4xx, never a 5xx. The "
        "error body is free (Vyro's newer API answers JSON `{status, code, error, message}`): shown as "
        "evidence, never judged.",
        "4xx MUST; body MAY",
        "The status table is all the document says; 500 means the server failed, not the caller.",
    ),
    Decision(
        "V9",
        "mask size",
        "A mask of another size than the image is resized, or refused with 400; never a 5xx.",
        "MUST",
        "The document is silent; both answers are reasonable, a crash is not.",
    ),
    # -- Both -----------------------------------------------------------------------------
    Decision(
        "B1",
        "robustness",
        "No input, however malformed (a truncated multipart body, a huge prompt, a "
        "decompression bomb, a 0x0 image, text that is not UTF-8), yields a 5xx or a hang, and a refused "
        "input is never charged. Text that is not UTF-8 may be refused (not charged) or served as the "
        "server decoded it (a success, charged like any success).",
        "MUST (refusal or success both allowed for non-UTF-8 text)",
        "A 5xx tells a client to retry something that will never work. Stock multipart parsers (Starlette, "
        "FastAPI) fall back to latin-1 for bad UTF-8 and serve the request: a correct server may do that.",
    ),
    Decision(
        "B2",
        "size limits",
        "A server may refuse large uploads with 413 (AIThriving: with the failure envelope).",
        "MAY",
        "Neither document states a limit, and every real server has one.",
    ),
    Decision(
        "B3",
        "secrets",
        "No key or token is written to a log, journal, report or recording in clear; "
        "secrets are removed where they stand (headers, fields, variables), never by replacing substrings "
        "of text, JSON or image data.",
        "MUST (for this project's own tools)",
        "Reports and recordings get attached to bug reports; a one-character key replaced everywhere would "
        "corrupt them instead of protecting anything.",
    ),
    Decision(
        "B4",
        "limits",
        "A server may refuse images under 64 px or over 4096 px a side, and prompts over "
        "10,000 characters. Probes that expect success use 64 to 1024 px and prompts under 1,000 "
        "characters; a refusal outside that range is not a failure.",
        "MAY",
        "The limits of the upstream service the AIThriving text mirrors; neither document states any.",
    ),
    Decision(
        "B5",
        "rate and quota",
        "A server may answer 429 at any time (AIThriving with the failure envelope; "
        "`Retry-After` should be sent), and Vyro may answer 402 when the account has no quota. `verify` "
        "waits as `Retry-After` says (bounded), retries, and never counts a 429 as the verdict of the clause "
        "it probed, nor as a charged request.",
        "MAY (Retry-After SHOULD)",
        'Rate limits are universal and undocumented here; a 429 says "not now", not "wrong".',
    ),
    Decision(
        "B6",
        "what the suite may not assume",
        "How random seeds are drawn, what the fill looks like, "
        "JPEG/WebP encoder settings and PNG compression, error wording, header order and extra headers, "
        "`Content-Length` or chunked, which of two duplicate form fields wins (or refusing them): all free.",
        "MUST (for the suite)",
        "A clause that depends on one of these is a false alarm waiting to happen.",
    ),
)

_BY_ID = {d.id: d for d in DECISIONS}
if len(_BY_ID) != len(DECISIONS):
    raise RuntimeError("duplicate decision ids")


class UnknownDecision(KeyError):
    def __str__(self) -> str:
        return f"no decision row {self.args[0]!r}; docs/decisions.md lists them"


def decision(decision_id: str) -> Decision:
    try:
        return _BY_ID[decision_id.strip().upper()]
    except KeyError:
        raise UnknownDecision(decision_id) from None


def cited(reference: str | None) -> list[Decision]:
    """The rows a citation names: "A5, B1" -> [A5, B1]; "V7, A12" -> [V7, A12]."""
    if not reference:
        return []
    return [decision(part) for part in re.split(r"[,\s]+", reference) if part]
