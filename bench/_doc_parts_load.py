"""Generated doc parts for the load benchmarks: memory, slow clients, scaling out."""

from __future__ import annotations

from collections.abc import Callable

BENCHES: dict[str, list[str]] = {
    "memory": ["bench/memory.py"],
    "slow-clients": ["bench/slow_clients.py"],
    "scaling-ingress": ["bench/scaling_ingress.py"],
}
PARTS: dict[str, Callable[[str], str]] = {}
