"""Named contract deviations: each one small object that owns how it bends the fake.

A deviation overrides only the hooks it needs; `Deviations` (the ones firing for a
request) folds every hook over them, so the provider asks "what do the deviations make
of this?" and never tests a name. Adding a deviation is one class and one line in
`REGISTRY`; `fakes.faults` derives the names and descriptions from it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable

from PIL import Image

from inpaint_conformance.contracts import Api, InpaintRequest
from inpaint_conformance.contracts.images import has_alpha
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, SEED_MAX, SEED_MIN, effective_mask
from inpaint_conformance.contracts.violations import Violation

from .imaging import add_noise


class Deviation:
    """One contract rule the fake breaks when asked. Each hook's default leaves things as they are."""

    name: str = ""
    description: str = ""
    # Clause ids it accepts although the contract says refuse.
    waived: tuple[str, ...] = ()
    server_error = False  # its own refusals are answered 500 instead of the API's failure status
    charges_failures = False
    serves_strangers = False  # no key, or an unknown one, is served (for free)
    ignores_credit_limit = False  # a key short of credits is served, its balance floored at zero

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        """A refusal of a request the contract says to serve."""
        return None

    def bend_request(self, request: InpaintRequest) -> None:
        """Change the request in place before it is served."""

    def failure_status(self, api: Api, status: int) -> int:
        return status

    def random_seed(self, seed: int) -> int:
        return seed

    def paint_seed(self, seed: int) -> int:
        return seed

    def bend_mask(self, request: InpaintRequest, image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
        return mask

    def bend_output(self, output: Image.Image, mask: Image.Image, seed: int) -> Image.Image:
        return output

    def output_format(self, fmt: str) -> str:
        return fmt

    def media_type(self, media_type: str) -> str:
        return media_type

    def charge(self, amount: int) -> int:
        return amount

    def reported_seed(self, reported: int, seed: int, random_seed: bool) -> int:
        return reported

    def bend_envelope(self, envelope: dict) -> None:
        """Change a decoded AIThriving success envelope in place."""


def _refusing(api: Api, clause: str, message: str) -> Violation:
    return Violation(f"{api.prefix}.{clause}", f"deviation: {message}")


class SeedEchoWrong(Deviation):
    name, description = "seed_echo_wrong", "report data.seed one more than the seed sent"

    def reported_seed(self, reported: int, seed: int, random_seed: bool) -> int:
        return seed % SEED_MAX + 1


class ChargeOnFailure(Deviation):
    name, description = "charge_on_failure", f"charge {CREDITS_PER_SUCCESS} credits for failed requests too"
    charges_failures = True


class ChargeTwice(Deviation):
    name, description = "charge_twice", f"charge {2 * CREDITS_PER_SUCCESS} credits per success"

    def charge(self, amount: int) -> int:
        return amount * 2


class Overdraw(Deviation):
    name, description = "overdraw", "charge keys below zero instead of refusing"
    ignores_credit_limit = True


class WrongOutputFormat(Deviation):
    name, description = "wrong_output_format", "encode JPEG where PNG was asked, PNG otherwise"

    def output_format(self, fmt: str) -> str:
        return "jpeg" if fmt == "png" else "png"


class BareStringData(Deviation):
    name, description = "bare_string_data", "answer data as a bare base64 string, as the document's example does"

    def bend_envelope(self, envelope: dict) -> None:
        envelope["data"] = envelope["data"]["image"]


class SuccessMessageWrong(Deviation):
    name, description = "success_message_wrong", "answer message 'ok' instead of 'success'"

    def bend_envelope(self, envelope: dict) -> None:
        envelope["message"] = "ok"


class SizeRounded(Deviation):
    name, description = "size_rounded", "round the output size down to a multiple of 8"

    def bend_output(self, output: Image.Image, mask: Image.Image, seed: int) -> Image.Image:
        w, h = output.size
        return output.resize((max(8, w // 8 * 8), max(8, h // 8 * 8)))


class MaskInverted(Deviation):
    name, description = "mask_inverted", "repaint where the mask is black, keep where it is white"

    def bend_mask(self, request: InpaintRequest, image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
        return None if mask is None else Image.eval(mask, lambda v: 255 - v)


class AlphaIgnored(Deviation):
    name, description = "alpha_ignored", "ignore the alpha channel: repaint everything when no mask is sent"

    def bend_mask(self, request: InpaintRequest, image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
        return Image.new("L", image.size, 255) if request.mask is None else mask


class AlphaWins(Deviation):
    name, description = "alpha_wins", "prefer the alpha channel over the mask part"

    def bend_mask(self, request: InpaintRequest, image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
        if request.mask is not None and has_alpha(image):
            return effective_mask(image, None)
        return mask


class KeptPixelsDrift(Deviation):
    name, description = "kept_pixels_drift", "add a little noise to the pixels the mask keeps"

    def bend_output(self, output: Image.Image, mask: Image.Image, seed: int) -> Image.Image:
        return add_noise(output, mask, 12, seed)


class RandomSeedZero(Deviation):
    name, description = "random_seed_zero", "report seed 0 when a random seed was asked for"

    def reported_seed(self, reported: int, seed: int, random_seed: bool) -> int:
        return 0 if random_seed else reported


class RandomSeedConstant(Deviation):
    name, description = "random_seed_constant", "use the same seed every time a random one is asked for"

    def random_seed(self, seed: int) -> int:
        return 42


class NotReproducible(Deviation):
    name, description = "not_reproducible", "ignore the seed when painting"

    def paint_seed(self, seed: int) -> int:
        return secrets.randbelow(SEED_MAX) + 1


class SeedRangeUnchecked(Deviation):
    name, description = "seed_range_unchecked", f"accept seeds outside [{SEED_MIN}, {SEED_MAX}]"
    waived = ("ait.seed.range",)


class PromptOptional(Deviation):
    name, description = "prompt_optional", "accept requests without a prompt"
    waived = ("ait.prompt.required", "vyro.prompt.required")

    def bend_request(self, request: InpaintRequest) -> None:
        if request.prompt is None:
            request.prompt = ""


class NoAuth(Deviation):
    name, description = "no_auth", "accept requests without a key, or with an unknown one"
    waived = ("ait.auth.missing", "vyro.auth.missing")
    serves_strangers = True


class ServerErrorOnBadInput(Deviation):
    name, description = "server_error_on_bad_input", "answer caller errors with HTTP 500"

    def failure_status(self, api: Api, status: int) -> int:
        return 500


class Vyro422(Deviation):
    name, description = "vyro_422", "Vyro: answer 422 instead of 400 for caller errors"

    def failure_status(self, api: Api, status: int) -> int:
        return 422 if api is Api.VYRO and status == 400 else status


class VyroJpegContentType(Deviation):
    name, description = "vyro_jpeg_content_type", "Vyro: label the PNG answer image/jpeg"

    def media_type(self, media_type: str) -> str:
        return "image/jpeg"


class WebpRejected(Deviation):
    name, description = "webp_rejected", "AIThriving: refuse WebP input"

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        return _refusing(api, "image.formats", "WebP refused") if request.image_format == "webp" else None


class FormatFromFilename(Deviation):
    name, description = "format_from_filename", "decide the image format from the filename, not the bytes"

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        name = (request.filenames.get("image") or "").lower().rsplit(".", 1)[-1]
        if name in ("jpg", "jpeg", "png", "webp") and name.replace("jpg", "jpeg") != request.image_format:
            return _refusing(api, "image.sniffed", f"filename says {name}")
        return None


class MaskSize500(Deviation):
    name, description = "mask_size_500", "answer 500 when the mask size differs from the image's"
    server_error = True

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        if request.mask is not None and request.image is not None and request.mask.size != request.image.size:
            return _refusing(api, "robust.malformed", "mask size differs")
        return None


class ModelVersionRequired(Deviation):
    name, description = "model_version_required", "Vyro: refuse requests without model_version"

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        if api is Api.VYRO and request.model_version is None:
            return _refusing(api, "model_version.default", "model_version required")
        return None


class UnknownField500(Deviation):
    name, description = "unknown_field_500", "answer 500 when a form field is unknown"
    server_error = True

    def refusal(self, api: Api, request: InpaintRequest) -> Violation | None:
        return _refusing(api, "unknown_fields", "unknown field") if request.extra_fields else None


# Each deviation breaks at least one clause; the harness's self-tests prove verify catches it.
# The order is the order hooks apply in (alpha_wins before alpha_ignored before mask_inverted).
REGISTRY: tuple[Deviation, ...] = (
    ChargeOnFailure(),
    ChargeTwice(),
    Overdraw(),
    WrongOutputFormat(),
    BareStringData(),
    SuccessMessageWrong(),
    KeptPixelsDrift(),
    SizeRounded(),
    AlphaWins(),
    AlphaIgnored(),
    MaskInverted(),
    RandomSeedZero(),
    SeedEchoWrong(),  # after random_seed_zero: the wrong echo wins
    RandomSeedConstant(),
    NotReproducible(),
    SeedRangeUnchecked(),
    PromptOptional(),
    NoAuth(),
    ServerErrorOnBadInput(),
    Vyro422(),
    VyroJpegContentType(),
    WebpRejected(),
    FormatFromFilename(),
    ModelVersionRequired(),
    UnknownField500(),
    MaskSize500(),
)
BY_NAME: dict[str, Deviation] = {deviation.name: deviation for deviation in REGISTRY}


class Deviations:
    """The deviations firing for one request, each hook folded over them in registry order."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        wanted = set(names)
        self.active = tuple(d for d in REGISTRY if d.name in wanted)

    def __bool__(self) -> bool:
        return bool(self.active)

    @property
    def charges_failures(self) -> bool:
        return any(d.charges_failures for d in self.active)

    @property
    def serves_strangers(self) -> bool:
        return any(d.serves_strangers for d in self.active)

    @property
    def ignores_credit_limit(self) -> bool:
        return any(d.ignores_credit_limit for d in self.active)

    def waives(self, violation: Violation) -> bool:
        return any(violation.clause in d.waived for d in self.active)

    def refusals(self, api: Api, request: InpaintRequest | None) -> tuple[list[Violation], bool]:
        """The refusals the deviations add, and whether one of them is to be answered 500."""
        found: list[Violation] = []
        server_error = False
        if request is None:
            return found, server_error
        for deviation in self.active:
            violation = deviation.refusal(api, request)
            if violation is not None:
                found.append(violation)
                server_error = server_error or deviation.server_error
        for deviation in self.active:
            deviation.bend_request(request)
        return found, server_error

    def failure_status(self, api: Api, status: int) -> int:
        for deviation in self.active:
            status = deviation.failure_status(api, status)
        return status

    def random_seed(self, seed: int) -> int:
        for deviation in self.active:
            seed = deviation.random_seed(seed)
        return seed

    def paint_seed(self, seed: int) -> int:
        for deviation in self.active:
            seed = deviation.paint_seed(seed)
        return seed

    def bend_mask(self, request: InpaintRequest, image: Image.Image, mask: Image.Image | None) -> Image.Image | None:
        for deviation in self.active:
            mask = deviation.bend_mask(request, image, mask)
        return mask

    def bend_output(self, output: Image.Image, mask: Image.Image, seed: int) -> Image.Image:
        for deviation in self.active:
            output = deviation.bend_output(output, mask, seed)
        return output

    def output_format(self, fmt: str) -> str:
        for deviation in self.active:
            fmt = deviation.output_format(fmt)
        return fmt

    def media_type(self, media_type: str) -> str:
        for deviation in self.active:
            media_type = deviation.media_type(media_type)
        return media_type

    def charge(self, amount: int) -> int:
        for deviation in self.active:
            amount = deviation.charge(amount)
        return amount

    def reported_seed(self, seed: int, random_seed: bool) -> int:
        reported = seed
        for deviation in self.active:
            reported = deviation.reported_seed(reported, seed, random_seed)
        return reported

    def bend_envelope(self, body: bytes) -> bytes:
        if not any(type(d).bend_envelope is not Deviation.bend_envelope for d in self.active):
            return body
        envelope = json.loads(body)
        for deviation in self.active:
            deviation.bend_envelope(envelope)
        return json.dumps(envelope).encode()
