"""What a user or a test does to a fake: keys, balances, journal, faults, reset.

One implementation behind both faces of the fake: the HTTP inspection API under
/__fake__/ (fakes.inspection) and the pytest fixtures (fakes.pytest_plugin). Input
checks raise ValueError with a message naming what was expected and what came, so
the HTTP face can answer 400 with it as is.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping

from inpaint_conformance.contracts import Api, Level, redact_secret

from .faults import KINDS, TRANSPORT_FAULTS, Fault
from .ledger import DEFAULT_CREDITS
from .provider import FakeProvider

FAULT_FIELDS = ("kind", "api", "key", "count", "probability", "seed", "seconds")
# A transport fault (timeout, 500, drop...) fires for one request unless a count is given:
# a client's retry then meets a healthy fake, which is what "test your retry code" needs.
# A deviation stays on until cleared: it describes a server that is broken, not a hiccup.
# An explicit count of None (JSON null) keeps any fault on until cleared.
TRANSPORT_DEFAULT_COUNT = 1


class KeyExists(ValueError):
    """Creating a key that is already there (set its balance instead)."""


class FakeControl:
    """Operations on one FakeProvider's state.

    Balances restored by ``reset(balances=True)`` are the ones keys had when they were
    created, or when the server run started (stored balances included): the ledger
    keeps them with the keys, so every control and every process sharing the ledger agree.
    """

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self._lock = threading.Lock()

    # -- keys and credits ------------------------------------------------------------
    def create_key(self, key: str | None = None, credits: int = DEFAULT_CREDITS) -> tuple[str, int]:
        """Create a key (a random one when ``key`` is None); returns (key, balance)."""
        key = secrets.token_urlsafe(18) if key is None else check_key(key)
        credits = _check_int("credits", credits, minimum=0)
        with self._lock:
            if self.provider.ledger.balance(key) is not None:
                raise KeyExists(
                    "that key exists already: set its balance instead (set_credits, or PUT /__fake__/keys/{key})"
                )
            balance = self.provider.add_key(key, credits, keep_existing=True)
        return key, balance

    def set_credits(self, key: str, credits: int, *, create: bool = True) -> int:
        """Set a key's balance; an unknown key is created (or KeyError when ``create`` is False)."""
        key = check_key(key)
        credits = _check_int("credits", credits, minimum=0)
        with self._lock:
            if self.provider.ledger.balance(key) is None:
                if not create:
                    raise KeyError(key)
                self.provider.add_key(key, credits, keep_existing=True)
            else:
                self.provider.ledger.set_balance(key, credits)
        return credits

    def credits(self, key: str) -> int | None:
        """The key's balance, None for an unknown key."""
        return self.provider.ledger.balance(key)

    def keys(self) -> list[dict]:
        """Every key, redacted, with its balance (B3: a listing never shows a key in clear)."""
        return [
            {"key": redact_secret(key), "credits": credits} for key, credits in self.provider.ledger.balances().items()
        ]

    # -- journal ---------------------------------------------------------------------
    def journal(self, api: Api | str | None = None, since: int = 0) -> list[dict]:
        """Journal entries (oldest first), optionally of one API and after entry id ``since``."""
        wanted = Api.parse(api).value if api is not None else None
        return self.provider.journal.entries(api=wanted, since_id=_check_int("since", since, minimum=0))

    def clear_journal(self) -> None:
        self.provider.journal.clear()

    def client_violations(self, level: Level = Level.MUST) -> list[str]:
        """One line per clause a client broke at ``level`` (or stricter), per journalled request."""
        order = [Level.MUST.value, Level.SHOULD.value, Level.MAY.value]
        levels = order[: order.index(Level(level).value) + 1]
        lines = []
        for entry in self.journal():
            for violation in entry.get("violations", []):
                if violation["level"] in levels:
                    lines.append(
                        f"request #{entry['id']} ({entry['api']} {entry['method']} {entry['path']}): "
                        f"{violation['clause']} [{violation['level']}] {violation['message']}"
                    )
        return lines

    # -- faults ----------------------------------------------------------------------
    def add_fault(self, fields: Mapping[str, object]) -> Fault:
        """Add a fault from its fields (kind, api, key, count, probability, seed, seconds).

        Without a ``count`` field a transport fault fires once and a deviation stays on
        until cleared; ``count`` None keeps either on until cleared.
        """
        unknown = sorted(set(fields) - set(FAULT_FIELDS))
        if unknown:
            raise ValueError(f"unknown fault field(s) {', '.join(unknown)}: expected {', '.join(FAULT_FIELDS)}")
        kind = fields.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: expected one of {', '.join(sorted(KINDS))}")
        api = fields.get("api")
        if api is not None and not isinstance(api, (str, Api)):
            raise ValueError(f"fault api must be aithriving, vyro or omitted, got {api!r}")
        key = fields.get("key")
        if key is not None:
            key = check_key(key)
        count = fields["count"] if "count" in fields else default_count(kind)
        fault = Fault(
            kind=kind,
            api=Api.parse(api).value if api is not None else None,
            key=key,
            count=_check_int("count", count, minimum=1) if count is not None else None,
            probability=_check_number("probability", fields.get("probability", 1.0)),
            seed=_check_int("seed", fields["seed"]) if fields.get("seed") is not None else None,
            seconds=_check_number("seconds", fields["seconds"]) if fields.get("seconds") is not None else None,
        )
        return self.provider.faults.add(fault)

    def inject(self, kind: str, **fields: object) -> Fault:
        """Shorthand for tests: ``inject("timeout")`` fails the next request only, so a retry succeeds.

        Transport faults fire once by default (``count=3``: the next three requests,
        ``count=None``: until cleared); deviations stay on until cleared. Other fields:
        ``api``, ``key``, ``probability``, ``seed``, ``seconds``, e.g.
        ``inject("status_429", api="aithriving", seconds=2)``.
        """
        return self.add_fault({"kind": kind, **fields})

    def faults(self) -> list[dict]:
        """Active faults as dicts, keys redacted."""
        return [self.describe(fault) for fault in self.provider.faults.active()]

    @staticmethod
    def describe(fault: Fault) -> dict:
        """A fault as a dict safe to show: its key redacted."""
        data = fault.to_dict()
        if data.get("key"):
            data["key"] = redact_secret(data["key"])
        return data

    def clear_faults(self, fault_id: int | None = None) -> bool:
        """Clear one fault (False when there is no such id) or all of them."""
        if fault_id is not None and all(f.id != fault_id for f in self.provider.faults.active()):
            return False
        self.provider.faults.clear(fault_id)
        return True

    # -- everything ------------------------------------------------------------------
    def reset(self, *, balances: bool = False) -> dict:
        """Clear the journal and faults; with ``balances``, put keys back to their initial credits."""
        self.provider.reset()
        restored = self.provider.ledger.restore_initial_balances() if balances else 0
        return {"journal": "cleared", "faults": "cleared", "balances_restored": restored}


def default_count(kind: str) -> int | None:
    """How many requests a fault of ``kind`` fires for when no count is given (None: until cleared)."""
    return TRANSPORT_DEFAULT_COUNT if kind in TRANSPORT_FAULTS else None


def check_key(key: object) -> str:
    """The key itself, or ValueError: keys travel in HTTP headers."""
    # Keys travel in HTTP headers: printable ASCII without spaces, or a client cannot send them.
    if not isinstance(key, str) or not key or not all(33 <= ord(c) < 127 for c in key):
        raise ValueError("a key must be a non-empty string of printable ASCII without spaces")
    return key


def _check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_number(name: str, value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)
