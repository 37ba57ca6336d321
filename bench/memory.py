"""Peak memory (RSS) of the fake and the proxy under big uploads, beside the floor.

    python bench/memory.py                 # 32 x 4096x4096 16-bit RGBA into the fake; 60 x 15 MB through the proxy
    python bench/memory.py --quick         # 8 uploads and 10 uploads
    python bench/memory.py --clients 32 --memory-budget 512M --json memory.json

- **floor**: one 4096x4096 16-bit RGBA PNG decoded, filled, composited and encoded in one
  process (no HTTP, no validation): the least memory one such request can take.
- **fake**: `inpaint-conformance serve` and N clients each uploading that PNG at once
  (AIThriving, its transparent alpha is the mask). Peak RSS over the burst, RSS once it
  is over, and what every client got: each answer must be a success or the API's
  refusal (429 with Retry-After), never a 5xx; credits spent must be 6 per success.
- **proxy**: `inpaint-conformance proxy` in front of the fake, M uploads of a ~15 MB PNG
  through it (one client, as a client uploading in turn; `--proxy-clients` for more).

The uploads are zero-filled: 128 KiB on the wire, 128 MiB of pixels decoded. Peak RSS
is the kernel's high-water mark (VmHWM), reset once the server is ready, so start-up
does not count. Targets (issue 14): fake < 1.5 GB with 32 clients; proxy < 300 MB.
Numbers are printed, never asserted: exit 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_KEY,
    REPO,
    command_line,
    console,
    load_average,
    print_machine,
    write_json,
)
from _load import LOOPBACK, ServerProcess, checkout_env, free_port, serve_argv

FAKE_TARGET_MB, PROXY_TARGET_MB = 1536, 300
SIDE = 4096
PROXY_UPLOAD_MB = 15


# -- the uploads ------------------------------------------------------------------------
def deep_png(width: int, height: int) -> bytes:
    """A zero-filled 16-bit RGBA PNG: tiny on the wire, width x height x 8 bytes decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def noise_png(megabytes: float) -> bytes:
    """An RGB noise PNG of about ``megabytes`` (noise does not compress) and a mask for it."""
    import numpy as np
    from PIL import Image

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def mask_png(side: int) -> bytes:
    from PIL import Image

    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def ait_call(image: bytes, mask: bytes | None = None) -> tuple[dict[str, str], bytes]:
    from urllib3 import encode_multipart_formdata

    fields: dict = {"prompt": "a wall", "seed": "1234", "image": ("image.png", image, "image/png")}
    if mask is not None:
        fields["mask"] = ("mask.png", mask, "image/png")
    body, content_type = encode_multipart_formdata(fields)
    return {"content-type": content_type, "authorization": BENCH_KEY}, body


# -- memory of a process ------------------------------------------------------------------
def memory_mb(pid: int) -> tuple[float, float]:
    """(peak RSS, current RSS) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def reset_peak(pid: int) -> None:
    """Start the high-water mark afresh (Linux: clear_refs 5), so start-up does not count."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# -- the floor ------------------------------------------------------------------------------
_FLOOR = """
import io, resource, sys
sys.path.insert(0, {bench!r})
from memory import deep_png
from PIL import Image
from inpaint_conformance.contracts.images import to_rgb
from inpaint_conformance.fakes.engine import FakeEngine, InpaintJob
from inpaint_conformance.fakes.imaging import composite, encode
from inpaint_conformance.contracts.rules import effective_mask
data = deep_png({side}, {side})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = Image.open(io.BytesIO(data)); image.load()
mask = effective_mask(image, None)
rgb = to_rgb(image); del image
out = encode(composite(rgb, FakeEngine().inpaint(InpaintJob(rgb, mask, "a wall", None, 1234)), mask), "png")
print(before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def floor_mb(side: int) -> tuple[float, float]:
    """(RSS before the work, peak RSS) of one decode + fill + composite + encode in a fresh process."""
    code = _FLOOR.format(bench=str(Path(__file__).resolve().parent), side=side)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=checkout_env(), check=True)
    before, peak = (float(v) for v in out.stdout.split())
    return before, peak


# -- bursts of uploads -----------------------------------------------------------------------
def burst(port: int, path: str, headers: dict, body: bytes, clients: int, total: int, timeout: float) -> list:
    """``total`` uploads from ``clients`` threads at once; each answer as (status, json code or None, retry-after)."""
    answers: list = []
    lock = threading.Lock()
    left = [total]

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                try:
                    code = json.loads(data).get("code")
                except (ValueError, AttributeError):
                    code = None
                answer = (response.status, code, response.getheader("retry-after"))
            except (OSError, http.client.HTTPException) as exc:
                answer = (f"{type(exc).__name__}", None, None)
            finally:
                conn.close()
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout + 60)
    return answers


def credits(port: int) -> int:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    conn.request("GET", "/__fake__/credits", headers={"authorization": BENCH_KEY})
    value = json.loads(conn.getresponse().read())["credits"]
    conn.close()
    return value


def tally(answers: list) -> dict:
    ok = sum(1 for status, code, _ in answers if status == 200 and code in (0, None))
    refused = sum(1 for status, code, _ in answers if status == 429 or (status == 200 and code == -1))
    with_retry_after = sum(1 for status, _, retry in answers if status == 429 and retry)
    server_errors = sum(1 for status, _, _ in answers if not isinstance(status, int) or status >= 500)
    return {
        "answers": len(answers),
        "ok": ok,
        "refused": refused,
        "429_with_retry_after": with_retry_after,
        "5xx_or_no_answer": server_errors,
        "statuses": sorted({str(a[0]) for a in answers}),
    }


def priced_mb(headers: dict[str, str], body: bytes) -> float:
    """What the server's memory budget prices this upload at, from its image headers (fakes.memory_budget)."""
    from inpaint_conformance.contracts import Api
    from inpaint_conformance.contracts.rules import INPUT_FORMATS
    from inpaint_conformance.fakes.memory_budget import request_cost

    return request_cost(headers["content-type"], body, INPUT_FORMATS[Api.AITHRIVING]) / 1024**2


def measure_fake(clients: int, side: int, extra: list[str]) -> dict:
    port = free_port()
    headers, body = ait_call(deep_png(side, side))
    with ServerProcess("fake", serve_argv(port, extra), port, env=checkout_env(), cwd=REPO) as server:
        server.wait_ready()
        before = credits(port)
        time.sleep(0.5)
        pid = server.process.pid
        _, idle = memory_mb(pid)
        reset_peak(pid)
        started = time.perf_counter()
        answers = burst(port, "/api/edit/inpaint", headers, body, clients, clients, timeout=600)
        seconds = time.perf_counter() - started
        peak, _ = memory_mb(pid)
        time.sleep(3)
        _, after = memory_mb(pid)
        spent = before - credits(port)
    result = tally(answers)
    return {
        **result,
        "clients": clients,
        "upload_bytes": len(body),
        "seconds": round(seconds, 1),
        "idle_mb": round(idle),
        "peak_mb": round(peak),
        "after_mb": round(after),
        "credits_spent": spent,
        "charged_only_successes": spent == 6 * result["ok"],
        "priced_mb": round(priced_mb(headers, body)),
    }


def measure_proxy(uploads: int, clients: int, megabytes: float, extra: list[str]) -> dict:
    upstream_port, proxy_port = free_port(), free_port()
    image = noise_png(megabytes)
    from PIL import Image

    side = Image.open(io.BytesIO(image)).width
    headers, body = ait_call(image, mask_png(side))
    proxy_argv = [
        sys.executable,
        "-m",
        "inpaint_conformance.harness.cli",
        "proxy",
        "--api",
        "aithriving",
        "--upstream",
        f"http://{LOOPBACK}:{upstream_port}",
        "--host",
        LOOPBACK,
        "--port",
        str(proxy_port),
        *extra,
    ]
    with ServerProcess("fake", serve_argv(upstream_port, []), upstream_port, env=checkout_env(), cwd=REPO) as fake:
        fake.wait_ready()
        with ServerProcess("proxy", proxy_argv, proxy_port, env=checkout_env(), cwd=REPO) as proxy:
            proxy.wait_ready()
            pid = proxy.process.pid
            _, idle = memory_mb(pid)
            reset_peak(pid)
            started = time.perf_counter()
            answers = burst(proxy_port, "/api/edit/inpaint", headers, body, clients, uploads, timeout=600)
            seconds = time.perf_counter() - started
            peak, _ = memory_mb(pid)
            time.sleep(3)
            _, after = memory_mb(pid)
    return {
        **tally(answers),
        "uploads": uploads,
        "clients": clients,
        "upload_bytes": len(body),
        "image_side": side,
        "seconds": round(seconds, 1),
        "idle_mb": round(idle),
        "peak_mb": round(peak),
        "after_mb": round(after),
    }


def budget(flag: str | None) -> dict:
    """The fake's memory budget in this run: --memory-budget, else serve's default, and its wait."""
    from inpaint_conformance.fakes.memory_budget import DEFAULT_BUDGET, DEFAULT_MAX_WAIT, parse_size

    limit = parse_size(flag) if flag else DEFAULT_BUDGET
    return {"mb": round(limit / 1024**2), "serve_default": flag is None, "wait_s": DEFAULT_MAX_WAIT}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 fake uploads, 10 proxy uploads")
    parser.add_argument("--clients", type=int, help="concurrent uploads into the fake (default 32, quick 8)")
    parser.add_argument("--side", type=int, default=SIDE, help="side of the 16-bit RGBA upload in pixels")
    parser.add_argument("--memory-budget", help="passed to serve --memory-budget (default: serve's own)")
    parser.add_argument("--proxy-uploads", type=int, help="uploads through the proxy (default 60, quick 10)")
    parser.add_argument("--proxy-clients", type=int, default=1, help="concurrent clients of the proxy")
    parser.add_argument("--proxy-mb", type=float, default=PROXY_UPLOAD_MB, help="size of each proxied upload")
    parser.add_argument("--skip", choices=("fake", "proxy"), action="append", default=[])
    parser.add_argument("--json", metavar="PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("bench/memory.py reads /proc: it runs on Linux only", file=sys.stderr)
        return 2
    con = console()
    info = print_machine(con, "bench/memory.py", command_line())
    clients = args.clients or (8 if args.quick else 32)
    uploads = args.proxy_uploads or (10 if args.quick else 60)
    extra = ["--memory-budget", args.memory_budget] if args.memory_budget else []
    floor_before, floor_peak = floor_mb(args.side)
    rows = [("floor (1 upload, in process)", f"{floor_before:.0f}", f"{floor_peak:.0f}", "-", "-", "decode+encode")]
    payload: dict = {
        "machine": info,
        "command": command_line(),
        "side": args.side,
        "memory_budget": budget(args.memory_budget),
        "targets_mb": {"fake": FAKE_TARGET_MB, "proxy": PROXY_TARGET_MB},
        "floor": {"idle_mb": round(floor_before), "peak_mb": round(floor_peak)},
    }
    if "fake" not in args.skip:
        fake = measure_fake(clients, args.side, extra)
        payload["fake"] = fake
        verdict = "[green]" if fake["peak_mb"] < FAKE_TARGET_MB else "[red]"
        rows.append(
            (
                f"fake ({clients} x {args.side}x{args.side} 16-bit RGBA at once)",
                str(fake["idle_mb"]),
                f"{verdict}{fake['peak_mb']}[/] (target < {FAKE_TARGET_MB})",
                str(fake["after_mb"]),
                f"{fake['ok']} ok, {fake['refused']} refused ({fake['429_with_retry_after']} 429 + Retry-After), "
                f"{fake['5xx_or_no_answer']} 5xx/none in {fake['seconds']} s",
                f"{fake['credits_spent']} credits ({'6 per success' if fake['charged_only_successes'] else 'MISMATCH'})",
            )
        )
    if "proxy" not in args.skip:
        proxy = measure_proxy(uploads, args.proxy_clients, args.proxy_mb, [])
        payload["proxy"] = proxy
        verdict = "[green]" if proxy["peak_mb"] < PROXY_TARGET_MB else "[red]"
        rows.append(
            (
                f"proxy ({uploads} x {proxy['upload_bytes'] / 1e6:.1f} MB, {args.proxy_clients} client(s))",
                str(proxy["idle_mb"]),
                f"{verdict}{proxy['peak_mb']}[/] (target < {PROXY_TARGET_MB})",
                str(proxy["after_mb"]),
                f"{proxy['ok']} ok, {proxy['5xx_or_no_answer']} 5xx/none in {proxy['seconds']} s",
                "-",
            )
        )
    from rich.table import Table

    table = Table(title="RSS in MB", title_justify="left")
    for column in ("what", "idle", "peak", "after", "answers", "credits"):
        table.add_column(column, justify="left" if column in ("what", "answers", "credits") else "right")
    for row in rows:
        table.add_row(*row)
    con.print(table)
    payload["load average at end"] = load_average()
    write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
