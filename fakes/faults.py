"""Scriptable faults: transport trouble and named contract deviations.

A fault matches an API and/or a key and fires for the next N matching requests, or
with a probability: its n-th draw is a number derived from its seed and n alone, so a
scripted chaos run replays, and processes sharing one fault list (fakes.sql_faults)
draw the same sequence between them. Transport faults test a client's resilience; deviations make the fake
break one contract rule, so users can test their client's defences and the harness
can prove it catches each one.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass

TRANSPORT_FAULTS = {
    "latency": "answer after `seconds` more (default 1.0)",
    "status_500": "answer 500 (AIThriving: with the failure envelope)",
    "status_429": "answer 429 with Retry-After: `seconds` (default 1)",
    "status_401": "answer as if the key were wrong",
    "timeout": "never answer (the server holds the request for `seconds`, default 30; mocks raise a timeout)",
    "drop": "close the connection without an answer",
    "truncate": "send only the first half of the body",
    "malformed": "send a body that is not what the Content-Type says",
    "wrong_content_type": "send the right body with a wrong Content-Type",
}

# Each deviation breaks at least one clause; harness self-tests prove verify catches it.
DEVIATIONS = {
    "seed_echo_wrong": "report data.seed one more than the seed sent",
    "charge_on_failure": "charge 6 credits for failed requests too",
    "charge_twice": "charge 12 credits per success",
    "overdraw": "charge keys below zero instead of refusing",
    "wrong_output_format": "encode JPEG where PNG was asked, PNG otherwise",
    "bare_string_data": "answer data as a bare base64 string, as the document's example does",
    "success_message_wrong": "answer message 'ok' instead of 'success'",
    "size_rounded": "round the output size down to a multiple of 8",
    "mask_inverted": "repaint where the mask is black, keep where it is white",
    "alpha_ignored": "ignore the alpha channel: repaint everything when no mask is sent",
    "alpha_wins": "prefer the alpha channel over the mask part",
    "kept_pixels_drift": "add a little noise to the pixels the mask keeps",
    "random_seed_zero": "report seed 0 when a random seed was asked for",
    "random_seed_constant": "use the same seed every time a random one is asked for",
    "not_reproducible": "ignore the seed when painting",
    "seed_range_unchecked": "accept seeds outside [0, 4294967294]",
    "prompt_optional": "accept requests without a prompt",
    "no_auth": "accept requests without a key, or with an unknown one",
    "server_error_on_bad_input": "answer caller errors with HTTP 500",
    "vyro_422": "Vyro: answer 422 instead of 400 for caller errors",
    "vyro_jpeg_content_type": "Vyro: label the PNG answer image/jpeg",
    "webp_rejected": "AIThriving: refuse WebP input",
    "format_from_filename": "decide the image format from the filename, not the bytes",
    "mask_size_500": "answer 500 when the mask size differs from the image's",
    "model_version_required": "Vyro: refuse requests without model_version",
    "unknown_field_500": "answer 500 when a form field is unknown",
}
KINDS = {**TRANSPORT_FAULTS, **DEVIATIONS}


@dataclass
class Fault:
    kind: str
    api: str | None = None  # "aithriving", "vyro" or None for both
    key: str | None = None  # only requests with this key (None: any)
    count: int | None = None  # fire for the next N matching requests (None: until cleared)
    probability: float = 1.0
    seed: int | None = None  # seeds the probability draws, for replayable chaos
    seconds: float | None = None
    id: int = 0
    fired: int = 0
    draws: int = 0  # probability draws made so far (the index of the next one)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: expected one of {', '.join(sorted(KINDS))}")
        if self.api not in (None, "aithriving", "vyro"):
            raise ValueError(f"fault api must be aithriving, vyro or omitted, got {self.api!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {self.probability}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be >= 1 or omitted, got {self.count}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["description"] = KINDS[self.kind]
        return data


class FaultBook:
    """The active faults, consulted once per request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            fault.id = self._next_id
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def clear(self, fault_id: int | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def draw(self, api: str, key: str | None) -> dict[str, Fault]:
        """The faults that fire for this request, by kind (used-up faults are removed)."""
        fired: dict[str, Fault] = {}
        with self._lock:
            for fault in list(self._faults):
                if fault.api not in (None, api) or fault.key not in (None, key):
                    continue
                if fault.probability < 1.0:
                    fault.draws += 1
                    if not draw_fires(fault, fault.draws - 1):
                        continue
                fired.setdefault(fault.kind, fault)
                fault.fired += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
        return fired


def draw_fires(fault: Fault, index: int) -> bool:
    """Whether the ``index``-th probability draw of ``fault`` fires: from its seed and the index
    only (no generator state to share between processes); unseeded faults draw at random."""
    value = random.random() if fault.seed is None else random.Random(f"{fault.seed}:{index}").random()
    return value < fault.probability
