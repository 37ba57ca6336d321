"""What the benchmarks share: machine facts, the workload, the floor, statistics, tables.

The workload is one realistic inpaint call per API: a PNG picture, a PNG mask that
repaints the centre quarter of it, a prompt and (AIThriving) a fixed seed. The
*floor* is the same decode, fill, composite and encode done in this process with
no HTTP and no validation: the cost of the image work alone, which no fake can beat.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/x.py` from a checkout, installed or not
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from inpaint_conformance.contracts import Api, HttpRequest  # noqa: E402
from inpaint_conformance.contracts.envelopes import AIT_SUCCESS_CODE, ait_success  # noqa: E402
from inpaint_conformance.contracts.images import sniff_format  # noqa: E402
from inpaint_conformance.contracts.rules import AUTH_HEADER, MEDIA_TYPES, PATHS  # noqa: E402
from inpaint_conformance.fakes.engine import FakeEngine, InpaintJob  # noqa: E402
from inpaint_conformance.fakes.imaging import composite, encode  # noqa: E402

# A made-up key with enough credits for any run (6 per AIThriving success): not a secret.
BENCH_KEY = "bench-key-not-a-secret"
BENCH_CREDITS = 10**12
PROMPT = "a red brick wall with ivy"
SEED = 1234
APIS = (Api.AITHRIVING, Api.VYRO)


# -- the machine ---------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    """What a reader needs to compare numbers: cores, CPU, versions, and how busy the box was."""
    import PIL

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cores": f"{usable} usable of {os.cpu_count()}",
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "Pillow": PIL.__version__,
        "numpy": np.__version__,
    }
    from PIL import features

    info["zlib (Pillow's)"] = features.version("zlib") or "unknown"
    for name in ("uvicorn", "httptools", "uvloop"):
        info[name] = _version(name)
    if hasattr(os, "getloadavg"):
        info["load average at start"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return info


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for a results file's "load average at end"."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except ImportError:
        return "not installed"
    return str(getattr(mod, "__version__", None) or "installed")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- the workload --------------------------------------------------------------------
@cache
def picture_png(side: int) -> bytes:
    """A photo-like RGB picture: smooth colour waves and shapes, deterministic.

    It has no noise on purpose: a 4096 px noisy PNG is over the fake's 20 MiB upload
    limit. The decoder's cost grows with the pixel count either way.
    """
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    red = 128 + 100 * np.sin(6.283 * (1.5 * x + 0.5 * y))
    green = 128 + 100 * np.cos(6.283 * (0.7 * x - 1.3 * y))
    blue = 255 * x * y + 40 * ((x - 0.3) ** 2 + (y - 0.6) ** 2 < 0.04)
    pixels = np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@cache
def mask_png(side: int) -> bytes:
    """Black (keep) with a white (repaint) square over the centre quarter."""
    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Call:
    """One ready-to-send inpaint request: the same bytes for every door (HTTP, mock, floor)."""

    api: Api
    side: int
    path: str
    headers: dict[str, str]
    body: bytes

    def http_request(self, base: str = "http://127.0.0.1") -> HttpRequest:
        return HttpRequest("POST", base + self.path, self.headers, self.body)

    @property
    def label(self) -> str:
        return f"{self.api.value} {self.side}x{self.side}"


@cache
def build_call(api: Api, side: int) -> Call:
    from urllib3 import encode_multipart_formdata  # requests' own encoder: no hand-written multipart

    fields: dict = {
        "prompt": PROMPT,
        "image": ("image.png", picture_png(side), "image/png"),
        "mask": ("mask.png", mask_png(side), "image/png"),
    }
    if api is Api.AITHRIVING:
        fields.update(seed=str(SEED), output_format="png")
    else:
        fields["model_version"] = "1"
    body, content_type = encode_multipart_formdata(fields)
    headers = {"content-type": content_type, AUTH_HEADER[api]: BENCH_KEY}
    return Call(api, side, PATHS[api], headers, body)


def not_served(api: Api, status: int, content_type: str | None, body: bytes) -> str | None:
    """None when the answer is a served inpaint (it counts as throughput), else why not.

    AIThriving answers failures with HTTP 200 too (A5), so a 200 is not enough: a
    success is code 0 with a non-empty image. Vyro: 200 with an image/png body that
    is a PNG. Any other answer is an error of the run, however fast it came.
    """
    import json

    def said() -> str:
        return f"HTTP {status}: {body[:160]!r}"

    if status != 200:
        return said()
    if api is Api.AITHRIVING:
        try:
            envelope = json.loads(body)
            ok = envelope["code"] == AIT_SUCCESS_CODE and isinstance(envelope["data"]["image"], str)
            ok = ok and bool(envelope["data"]["image"])
        except (ValueError, KeyError, TypeError):
            ok = False
        return None if ok else f"not a success envelope (code {AIT_SUCCESS_CODE} with an image): {said()}"
    media = (content_type or "").split(";")[0].strip().lower()
    if media != MEDIA_TYPES["png"] or sniff_format(body) != "png":
        return f"not a PNG answer (content-type {content_type!r}): {said()}"
    return None


# -- the floor -----------------------------------------------------------------------
_ENGINE = FakeEngine()


def floor_once(api: Api, side: int) -> bytes:
    """Decode image and mask, fill, composite, encode (and wrap, for AIThriving): no HTTP."""
    image = Image.open(io.BytesIO(picture_png(side)))
    image.load()
    mask = Image.open(io.BytesIO(mask_png(side)))
    mask.load()
    # convert() copies even to the same mode; the floor does only the work it must.
    image = image if image.mode == "RGB" else image.convert("RGB")
    mask = mask if mask.mode == "L" else mask.convert("L")
    generated = _ENGINE.inpaint(InpaintJob(image, mask, PROMPT, None, SEED))
    data = encode(composite(image, generated, mask), "png")
    return ait_success(data, SEED) if api is Api.AITHRIVING else data


# -- statistics ----------------------------------------------------------------------
@dataclass
class Sample:
    """Requests completed by some concurrency over some seconds (pooled over rounds)."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str | None = None
    cpu_seconds: float | None = None  # CPU used by whatever served the requests, when measured

    def add(self, other: Sample) -> None:
        if other.cpu_seconds is not None:
            self.cpu_seconds = (self.cpu_seconds or 0.0) + other.cpu_seconds
        self.ok += other.ok
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.first_error = self.first_error or other.first_error

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    @property
    def cpu_per_request(self) -> float | None:
        """CPU seconds the server spent per successful request."""
        return self.cpu_seconds / self.ok if self.cpu_seconds is not None and self.ok else None

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.throughput, 2),
            "p50_ms": _ms(self.p50),
            "p99_ms": _ms(self.p99),
            "cpu_ms_per_request": None if self.cpu_per_request is None else _ms(self.cpu_per_request),
            "first_error": self.first_error,
        }


def _ms(seconds: float) -> float | None:
    return None if seconds != seconds else round(seconds * 1000, 2)


def ratio(a: float, b: float) -> float | None:
    return a / b if a and b else None


# -- printing ------------------------------------------------------------------------
def console():
    from rich.console import Console

    return Console(width=max(100, int(os.environ.get("COLUMNS", "120"))), highlight=False)


def print_machine(con, title: str, command: str) -> dict[str, str]:
    from rich.table import Table

    info = machine_info()
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in {"command": command, **info}.items():
        table.add_row(key, value)
    con.print(table)
    return info


def fmt_rate(value: float | None) -> str:
    return "-" if not value else (f"{value:,.0f}" if value >= 100 else f"{value:,.1f}")


def fmt_ms(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def fmt_ratio(value: float | None, target: float | None = None, *, higher_is_better: bool = True) -> str:
    """A ratio, green when it meets its target, red when it does not."""
    if value is None:
        return "-"
    text = f"{value:.2f}x"
    if target is None:
        return text
    ok = value >= target if higher_is_better else value <= target
    return f"[green]{text}[/]" if ok else f"[red]{text}[/]"


def command_line() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(REPO)
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def write_json(path: str | None, payload: dict) -> None:
    if path:
        import json

        Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started
