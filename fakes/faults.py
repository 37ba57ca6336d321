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
from enum import Enum

from inpaint_conformance.contracts import Api

from .deviations import REGISTRY as DEVIATION_REGISTRY


class TransportFault(str, Enum):
    """Transport trouble the fake can be told to make; each member's `description` says what it does."""

    LATENCY = "latency"
    STATUS_500 = "status_500"
    STATUS_429 = "status_429"
    STATUS_401 = "status_401"
    TIMEOUT = "timeout"
    DROP = "drop"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"
    WRONG_CONTENT_TYPE = "wrong_content_type"

    @property
    def description(self) -> str:
        return _TRANSPORT_DESCRIPTIONS[self]


_TRANSPORT_DESCRIPTIONS = {
    TransportFault.LATENCY: "answer after `seconds` more (default 1.0)",
    TransportFault.STATUS_500: "answer 500 (AIThriving: with the failure envelope)",
    TransportFault.STATUS_429: "answer 429 with Retry-After: `seconds` (default 1)",
    TransportFault.STATUS_401: "answer as if the key were wrong",
    TransportFault.TIMEOUT: "never answer (the server holds the request for `seconds`, default 30; mocks raise a timeout)",
    TransportFault.DROP: "close the connection without an answer",
    TransportFault.TRUNCATE: "send only the first half of the body",
    TransportFault.MALFORMED: "send a body that is not what the Content-Type says",
    TransportFault.WRONG_CONTENT_TYPE: "send the right body with a wrong Content-Type",
}

# Names and descriptions, as the inspection API, the dashboard and `--deviation` list them.
TRANSPORT_FAULTS = {fault.value: fault.description for fault in TransportFault}
DEVIATIONS = {deviation.name: deviation.description for deviation in DEVIATION_REGISTRY}
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
        if self.api is not None and self.api not in {api.value for api in Api}:
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
