"""The request journal: every request the fake saw, with the client's verdict.

A bounded ring (old entries fall off) of plain dicts, secrets already redacted when
they are written, so nothing downstream (export, dashboard, check-client) can leak.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterable

DEFAULT_CAPACITY = 1000


class Journal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[dict] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def record(self, entry: dict) -> dict:
        with self._lock:
            entry = {"id": next(self._ids), **entry}
            self._entries.append(entry)
        return entry

    def entries(self, *, api: str | None = None, since_id: int = 0) -> list[dict]:
        with self._lock:
            return [e for e in self._entries if e["id"] > since_id and (api is None or e.get("api") == api)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def dumps_jsonl(entries: Iterable[dict]) -> str:
    return "".join(json.dumps(e, sort_keys=True, default=str) + "\n" for e in entries)
