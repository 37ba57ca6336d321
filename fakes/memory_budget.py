"""Admitting image work against a memory budget, whatever door a request came through.

A 127 KB PNG can hold 4096x4096 16-bit RGBA pixels: 128 MB once decoded, several
times that while it is converted, painted, composited and encoded. The upload size
says nothing about that, so `FakeProvider.handle` prices each request from its image
headers (`request_cost`, nothing decoded yet) and holds that much of the budget
while it works. Work that does not fit waits its turn, in arrival order, for at most
`max_wait` seconds; then it is refused with the API's 429 and a Retry-After (B5),
never answered with a 5xx. A request bigger than the whole budget runs when it is
alone, so no valid request is refused forever.

When the budget falls idle the process hands freed memory back to the system
(glibc keeps freed heap pages otherwise), and servers make glibc map big blocks on
their own (`return_freed_memory_promptly`), so RSS returns after a burst.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from inpaint_conformance.contracts.images import pixel_footprint, sniff_format
from inpaint_conformance.contracts.multipart import FormError, parse_form

# What each pixel of the image costs beyond the uploads' own decoded bytes: the RGB copy
# the engine gets (Pillow keeps RGB as 4 bytes a pixel), the mask, the painted picture
# and the numpy scratch it is built from. bench/memory.py measured ~190 MB for a
# 4096x4096 16-bit RGBA request (priced 128 + 160 = 288 MB) and ~210 MB for 4096x4096
# RGB with a grey mask (priced 48 + 16 + 160 = 224 MB).
WORKING_BYTES_PER_PIXEL = 10
# With it, 32 concurrent 4096x4096 16-bit RGBA uploads stay well under 1.5 GB peak RSS
# (three such requests fit in the budget at once; fewer run where the handler slots, one per
# usable core, are fewer: the others wait for a slot; bench/memory.py).
DEFAULT_BUDGET = 1024 * 1024 * 1024
DEFAULT_MAX_WAIT = 30.0
_IMAGE_PARTS = ("image", "mask")


@dataclass(frozen=True)
class Admission:
    admitted: bool
    retry_after: int = 0  # seconds, when refused
    waited: float = 0.0


class MemoryBudget:
    """A byte budget shared by the threads that do image work, first come first served."""

    def __init__(self, limit: int = DEFAULT_BUDGET, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        if limit <= 0:
            raise ValueError(f"the memory budget must be more than 0 bytes, got {limit}")
        if max_wait < 0:
            raise ValueError(f"the longest wait must be >= 0 seconds, got {max_wait}")
        self.limit, self.max_wait = limit, max_wait
        self._in_use = 0
        self._queue: deque[object] = deque()
        self._ready = threading.Condition()
        self._seconds_per_job = 1.0  # a running average, for Retry-After

    @property
    def in_use(self) -> int:
        with self._ready:
            return self._in_use

    @contextlib.contextmanager
    def admit(self, cost: int) -> Iterator[Admission]:
        """Hold ``cost`` bytes of the budget for the block, or yield a refusal after ``max_wait``."""
        admission = self._acquire(cost)
        started = time.monotonic()
        try:
            yield admission
        finally:
            if admission.admitted and cost > 0:
                self._release(cost, time.monotonic() - started)

    def _acquire(self, cost: int) -> Admission:
        if cost <= 0:
            return Admission(True)
        ticket = object()
        started = time.monotonic()
        deadline = started + self.max_wait
        with self._ready:
            self._queue.append(ticket)
            while not (self._queue[0] is ticket and (self._in_use == 0 or self._in_use + cost <= self.limit)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._queue.remove(ticket)
                    self._ready.notify_all()  # the next in line may fit now
                    queued = len(self._queue) + 1
                    retry = max(1, math.ceil(self._seconds_per_job * queued * cost / self.limit))
                    return Admission(False, retry_after=retry, waited=time.monotonic() - started)
                self._ready.wait(remaining)
            self._queue.popleft()
            self._in_use += cost
            self._ready.notify_all()  # the next in line may fit beside this one
        return Admission(True, waited=time.monotonic() - started)

    def _release(self, cost: int, seconds: float) -> None:
        with self._ready:
            self._in_use -= cost
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * seconds
            idle = self._in_use == 0
            self._ready.notify_all()
        if idle:
            _trim()


def request_cost(content_type: str, body: bytes, allowed: frozenset[str]) -> int:
    """Bytes the image work of this request takes, from the image headers: nothing is decoded.

    0 when the body is not a readable form or holds no image in an allowed format
    (validation refuses it without decoding anything).
    """
    try:
        form = parse_form(content_type, body)
    except FormError:
        return 0
    total = 0
    for name in _IMAGE_PARTS:
        part = form.get(name)
        if part is None or sniff_format(part.data) not in allowed:
            continue
        footprint = pixel_footprint(part.data)
        if footprint is None:
            continue
        total += footprint.decoded_bytes
        if name == "image":  # the working copies are the image's size (a mask is resized to it)
            total += footprint.pixels * WORKING_BYTES_PER_PIXEL
    return total


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'768M', '1.5G', '2GiB', '500000000' -> bytes (binary units); ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"expected a size such as 512M, 1G or 1.5GiB, got {text!r}")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"expected a size above 0 such as 512M or 1G, got {text!r}")
    return value


def format_size(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} bytes"


# -- giving memory back (glibc) -----------------------------------------------------------------
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1024 * 1024
_libc = None
_configured = False
_configure_lock = threading.Lock()


def _glibc():
    global _libc
    if _libc is None:
        try:
            library = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc = library if hasattr(library, "malloc_trim") and hasattr(library, "mallopt") else False
        except OSError:
            _libc = False
    return _libc or None


def return_freed_memory_promptly() -> None:
    """Serve every allocation of 1 MiB or more (image blocks, big buffers) from its own mapping.

    Process-wide, so the servers call it (create_app, create_proxy_app), not the mocks,
    which run inside a user's test process.

    glibc raises its mmap threshold each time such a block is freed, after which big
    blocks come from per-thread heaps that keep freed pages: a burst of 4096 px
    requests on 32 threads left ~9 GB resident. A fixed threshold stops that.
    """
    global _configured
    with _configure_lock:
        if _configured:
            return
        _configured = True
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def _trim() -> None:
    """Hand the heap's free pages back to the system (once the budget is idle: it walks every arena)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
