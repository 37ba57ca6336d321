"""Pictures of probe exchanges, kept inside the JSON report so its HTML rendering can show them.

A failed clause about pixels (kept pixels changed, a mask read inverted, a size
rounded) is understood in one glance at the input, the mask, the output and a
difference map, and not at all from a PSNR figure. `PictureBook` collects the
exchanges a Runner sends; `attach` files their pictures under the clause results
they concern, as ``evidence["pictures"]``: a list of *shots* (one exchange's
pictures), each stored once in the report and referenced as ``{"ref": id}`` by
every other clause that shows it. `shots_of` reads them back for the renderer.

Pictures are PNG (lossy JPEG only for a photo-like thumbnail) data URIs made with
Pillow. Byte budgets keep a report of a long run below 10 MB: shots of failures are
encoded first, thumbnails before full-size images, and what does not fit is counted.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from inpaint_conformance.contracts import Outcome, RequestVerdict, ResponseVerdict
from inpaint_conformance.contracts.images import region_psnr, to_rgb

from .difference_maps import Layers, kept_layers, outputs_layers, paint, pooled
from .results import ClauseResult

if TYPE_CHECKING:
    from .exchanges import Exchange
    from .tally import Tally

THUMB_SIDE = 160  # px: every probe image of the embedded fake fits, so one URI serves both views
FULL_MAX_SIDE = 1024  # px: a full-size view larger than this is downscaled
LOSSY_OVER = 12_000  # bytes: a PNG thumbnail bigger than this (a photo) is tried as JPEG too
THUMB_BUDGET = 2_500_000  # characters of data URIs per API for thumbnails...
TOTAL_BUDGET = 4_000_000  # ...and for thumbnails plus full-size images: two APIs stay under 10 MB
MAX_PER_CLAUSE = 3  # shots a clause row shows (failures first); the gallery shows them all


# -- pictures ------------------------------------------------------------------------------
def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=82)
    else:
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scaled(image: Image.Image, side: int) -> Image.Image:
    scale = min(side / image.width, side / image.height, 1.0)
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)  # box-reduce first: fast, same look


def _displayable(image: Image.Image) -> Image.Image:
    """Modes a browser shows as they are: RGB, RGBA (transparency shown) or L (masks)."""
    if image.mode in ("RGB", "RGBA", "L"):
        return image
    return image.convert("RGBA") if "A" in image.getbands() or "transparency" in image.info else to_rgb(image)


def picture(role: str, image: Image.Image, caption: str) -> dict:
    """One picture as JSON-safe data: a thumbnail URI, and a full-size one when it differs.

    ``full`` is filled in later by `PictureBook` (within budget); until then the picture
    keeps the Pillow image (or a function painting it) privately under ``_image``.
    """
    shown = _displayable(image)
    small = _scaled(shown, THUMB_SIDE)
    thumb = data_uri(small)
    if len(thumb) > LOSSY_OVER * 4 // 3 and shown.mode != "L":
        lossy = data_uri(small, "JPEG")
        thumb = lossy if len(lossy) < len(thumb) else thumb
    entry = {
        "role": role,
        "caption": caption,
        "width": image.width,
        "height": image.height,
        "thumb": thumb,
        "full": None,
    }
    if small.size != shown.size:
        entry["_image"] = shown
    return entry


def _difference_picture(role: str, layers: Layers, caption: str) -> dict:
    small = paint(pooled(layers, THUMB_SIDE))
    height, width = layers.grey.shape
    entry = picture(role, small, caption)
    entry.update(width=width, height=height)
    if small.size != (width, height):
        entry["_image"] = lambda: paint(layers)  # painted at full size only if the budget has room for it
    return entry


def _db(value) -> str:
    if value is None:
        return "n/a"
    if value == "inf" or value == float("inf"):
        return "identical"
    return f"PSNR {float(value):.1f} dB"


def capture(
    probe: str, request: RequestVerdict, response: ResponseVerdict | None, *, first_output: Image.Image | None = None
) -> dict | None:
    """The pictures of one exchange: input, mask, output, and the difference maps that apply.

    ``first_output``: the output of an identical earlier request with the same non-zero
    seed (A16); with it, the second output is compared to the first. None when the
    exchange carried no image either way (a corrupt upload refused, say).
    """
    decoded = request.request
    image = decoded.image if decoded is not None else None
    output = response.image if response is not None and response.outcome is Outcome.SUCCESS else None
    if image is None and output is None:
        return None
    observations = dict(response.observations) if response is not None else {}
    pictures: list[dict] = []
    mask = decoded.strength_mask() if decoded is not None and image is not None else None
    if image is not None:
        pictures.append(
            picture(
                "input", image, f"{(decoded.image_format or '?').upper()} {image.width}x{image.height} {image.mode}"
            )
        )
    if mask is not None:
        assert image is not None, "a strength mask is only made for an image"
        if decoded.mask is None:
            how = "from the alpha channel"
        elif decoded.mask.size != image.size:
            how = f"sent {decoded.mask.width}x{decoded.mask.height}, resized"
        else:
            how = f"{(decoded.mask_format or '?').upper()} {decoded.mask.mode}"
        pictures.append(picture("mask", mask, f"{how}; white repaints, black keeps"))
    if output is not None:
        pictures.append(
            picture("output", output, f"{(observations.get('format') or '?').upper()} {output.width}x{output.height}")
        )
    notes: list[str] = []
    if output is not None and image is not None and mask is not None:
        if output.size != image.size:
            notes.append(
                f"no difference map: the output is {output.width}x{output.height}, the input {image.width}x{image.height}"
            )
        else:
            layers = kept_layers(image, output, mask)
            measured = observations.get("psnr_kept")
            if measured is None:
                # A lossy output's kept pixels are not judged; a red map of its encoder's
                # noise would read as a defect, so it gets a plain note instead.
                fmt = (observations.get("format") or "lossy").upper()
                shown = f" ({_db(round(region_psnr(image, output, layers.kept), 2))})" if layers.kept.any() else ""
                notes.append(
                    f"no difference map: {fmt} output is lossy, so its kept pixels are not judged{shown}; "
                    "kept pixels are judged on PNG output"
                )
            else:
                pictures.append(
                    _difference_picture(
                        "difference",
                        layers,
                        f"output vs input where the mask keeps: {_db(measured)}; "
                        "red = changed, grey = unchanged, blue = repainted (any change allowed)",
                    )
                )
    if first_output is not None and output is not None:
        pictures.append(picture("first output", first_output, "the first of two identical requests with one seed"))
        if first_output.size == output.size:
            everywhere = np.ones((output.height, output.width), dtype=bool)
            db = region_psnr(first_output, output, everywhere)
            observations["psnr_outputs"] = "inf" if db == float("inf") else round(db, 2)
            pictures.append(
                _difference_picture(
                    "reproducibility",
                    outputs_layers(first_output, output),
                    f"second output vs first: {_db(observations['psnr_outputs'])}; red = differs",
                )
            )
        else:
            notes.append(f"the two outputs differ in size: {first_output.size} and {output.size}")
    return {
        "probe": probe,
        "status": observations.get("status"),
        "psnr_kept": observations.get("psnr_kept"),
        "psnr_repainted": observations.get("psnr_repainted"),
        "psnr_outputs": observations.get("psnr_outputs"),
        "notes": notes,
        "pictures": pictures,
    }


# -- collecting a run's pictures --------------------------------------------------------------
@dataclass
class _Seen:
    seq: int
    exchange: Exchange
    clauses: set[str] = field(default_factory=set)
    first_output: Image.Image | None = None


class PictureBook:
    """The pictures of one Runner's exchanges; filed under clause results at the end of the run.

    Runner.send calls `add` for every exchange, a probe's judgement over several exchanges
    `file`s them under its clause; Runner.run calls `attach` on the tally's results.
    """

    def __init__(self, *, thumb_budget: int = THUMB_BUDGET, total_budget: int = TOTAL_BUDGET) -> None:
        self.thumb_budget, self.total_budget = thumb_budget, total_budget
        self._seen: list[_Seen] = []
        self._seeded: dict[tuple, _Seen] = {}  # replay key -> the first exchange of that request and seed
        self._by_exchange: dict[int, _Seen] = {}

    def add(self, exchange: Exchange) -> None:
        """Remember an exchange that sent or received an image (nothing is encoded yet), filed under
        the clauses it was about: its focus, the causes it was sent for, those judged on its pixels."""
        request = exchange.verdict.request
        result = exchange.result
        if (request is None or request.image is None) and (result is None or result.image is None):
            return
        about = set(exchange.expectation.clauses) | {v.clause for v in exchange.expectation.because}
        seen = _Seen(len(self._seen) + 1, exchange, about | (result.pictured if result is not None else set()))
        key = _replay_key(exchange)
        if key is not None and exchange.succeeded and result is not None and result.image is not None:
            earlier = self._seeded.setdefault(key, seen)
            if earlier is not seen and earlier.exchange.result is not None:  # the second of a pair: compare outputs
                seen.first_output = earlier.exchange.result.image
        self._seen.append(seen)
        self._by_exchange[id(exchange)] = seen

    def file(self, clause_id: str, exchange: Exchange) -> None:
        """Show this exchange's pictures under a clause a probe judged from it (a rule over several exchanges)."""
        seen = self._by_exchange.get(id(exchange))
        if seen is not None:
            seen.clauses.add(clause_id)

    def attach(self, results: list[ClauseResult], tally: Tally | None = None) -> list[ClauseResult]:
        """Copies of ``results`` with ``evidence["pictures"]`` on each clause that has shots."""
        if not self._seen:
            return results
        broke: dict[int, set[str]] = {}  # id(exchange) -> the clauses the tally says it broke
        first_breaker: dict[str, int] = {}
        for clause_id, exchanges in _failing_exchanges(tally).items():
            for exchange in exchanges:
                broke.setdefault(id(exchange), set()).add(clause_id)
            first_breaker[clause_id] = id(exchanges[0])
        failed = {r.clause for r in results if r.status == "failed"}
        by_clause: dict[str, list[_Seen]] = {}
        for seen in self._seen:
            for clause_id in seen.clauses | broke.get(id(seen.exchange), set()):
                by_clause.setdefault(clause_id, []).append(seen)
        for clause_id, items in by_clause.items():
            items.sort(
                key=lambda s: (
                    first_breaker.get(clause_id) != id(s.exchange),
                    clause_id not in broke.get(id(s.exchange), ()),
                    s.seq,
                )
            )
        linked = [s for s in self._seen if s.clauses or id(s.exchange) in broke]
        order = sorted(linked, key=lambda s: (id(s.exchange) not in broke and not s.clauses & failed, s.seq))
        shots = self._encode(order)
        placed: set[str] = set()
        attached = []
        for result in results:
            chosen = [shots[s.seq] for s in by_clause.get(result.clause, []) if s.seq in shots]
            if not chosen:
                attached.append(result)
                continue
            entries = []
            for shot in chosen:  # each shot is stored once; every other clause refers to it
                entries.append({"ref": shot["id"]} if shot["id"] in placed else shot)
                placed.add(shot["id"])
            evidence = {
                **result.evidence,
                "pictures": entries,
                "pictures_left_out": len(by_clause[result.clause]) - len(chosen),
            }
            attached.append(
                ClauseResult(
                    result.api, result.clause, result.level, result.status, result.detail, result.reproduce, evidence
                )
            )
        return attached

    def _encode(self, order: list[_Seen]) -> dict[int, dict]:
        """Shots within the budgets: thumbnails first for as many as fit, then full-size views."""
        shots: dict[int, dict] = {}
        spent = 0
        for seen in order:
            ex = seen.exchange
            shot = capture(ex.probe, ex.verdict, ex.result, first_output=seen.first_output)
            if shot is None:
                continue
            cost = sum(len(p["thumb"]) for p in shot["pictures"])
            if spent + cost > self.thumb_budget:
                continue
            spent += cost
            shot["id"] = f"{ex.api.prefix}-{seen.seq}"
            shot["api"] = ex.api.value
            shot["clauses"] = sorted(seen.clauses)
            shot["seq"] = seen.seq
            shots[seen.seq] = shot
        room = True  # once a full-size view does not fit, later (less important) ones are not even encoded
        for seen in order:
            for entry in shots.get(seen.seq, {}).get("pictures", []):
                image = entry.pop("_image", None)
                if image is None:
                    continue
                full = data_uri(_scaled(image() if callable(image) else image, FULL_MAX_SIDE)) if room else ""
                room = room and spent + len(full) <= self.total_budget
                if room:
                    entry["full"] = full
                    spent += len(full)
                else:
                    entry["caption"] += " (full size left out to keep the report small)"
        return shots


def _replay_key(exchange: Exchange) -> tuple | None:
    """Identical requests with a non-zero seed (A16) share this key; None for any other request."""
    spec = exchange.spec
    seed = spec.fields.get("seed")
    try:
        if seed is None or int(seed) == 0:
            return None
    except (TypeError, ValueError):
        return None
    fields = tuple(sorted((k, v if isinstance(v, str) else v.hex()) for k, v in spec.fields.items()))
    files = tuple(sorted((k, hashlib.sha256(u.data).hexdigest()) for k, u in spec.files.items()))
    return (exchange.probe.split("[", 1)[0], spec.auth, spec.body, fields, files)


def _failing_exchanges(tally: Tally | None) -> dict[str, list]:
    """Clause id -> the exchanges the tally recorded as breaking it, first one first."""
    if tally is None:
        return {}
    found = {
        clause_id: [b.exchange for b in entry.broken if b.exchange is not None]
        for clause_id, entry in tally.entries.items()
    }
    return {clause_id: exchanges for clause_id, exchanges in found.items() if exchanges}


# -- reading them back ---------------------------------------------------------------------------
def shots_of(results: Iterable[ClauseResult]) -> dict[str, dict]:
    """Every shot stored in a report, by id, in run order (what the picture gallery shows)."""
    found: dict[str, dict] = {}
    for result in results:
        for entry in result.evidence.get("pictures") or []:
            if isinstance(entry, dict) and "pictures" in entry and isinstance(entry.get("id"), str):
                found.setdefault(entry["id"], entry)
    return dict(sorted(found.items(), key=lambda item: (item[1].get("api", ""), item[1].get("seq", 0))))


def clause_shots(result: ClauseResult, shots: dict[str, dict]) -> list[dict]:
    """A clause's shots, references resolved (a reference to a shot not in the report is dropped)."""
    resolved = []
    for entry in result.evidence.get("pictures") or []:
        if not isinstance(entry, dict):
            continue
        shot = shots.get(entry["ref"]) if "ref" in entry else entry if "pictures" in entry else None
        if shot is not None:
            resolved.append(shot)
    return resolved
