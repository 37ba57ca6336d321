"""Images per second of the reference engine on Ray Serve: 1 and N replicas, against the
single-process server (`inpaint-conformance serve --engine reference`), in one run.

    python bench/reference_ray.py                       # tiny-random, 1 and 2 replicas (CPU: ~2 min)
    python bench/reference_ray.py --model /models/sd-inpaint --replicas 8   # one GPU each
    python bench/reference.py --ray --replicas N        # the same, from the reference bench

On a GPU machine N defaults to every GPU (one replica each); on CPU it is 2. The three
are measured one after the other with the same workload (one AIThriving request, PNG in
and out, a fixed seed) and the same number of concurrent clients, so the ratios are
comparable; on a CPU-only machine replicas share the same cores, so expect no gain
there: the point of the CPU run is that the machinery works and what it costs.
Numbers are printed, never asserted: the exit code is 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_CREDITS,
    BENCH_KEY,
    REPO,
    Api,
    Sample,
    build_call,
    command_line,
    console,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    print_machine,
    ratio,
    write_json,
)
from _load import LOOPBACK, ServerProcess, checkout_env, free_port, http_worker, run_concurrently


@dataclass
class Options:
    model: str = "tiny-random"
    replicas: int | None = None  # None: every GPU, or 2 without GPUs
    steps: int | None = None
    max_batch: int = 4
    seconds: float = 10.0
    clients: int | None = None  # None: enough to fill every replica's batches
    side: int | None = None  # None: 512 with CUDA, 256 without
    device: str = "auto"
    dtype: str | None = None


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags bench/reference.py adds for its --ray mode (it has --model, --steps... itself)."""
    parser.add_argument("--ray", action="store_true", help="compare Ray Serve with 1 and N replicas to one process")
    parser.add_argument("--replicas", type=int, help="N (default: every GPU, or 2 without GPUs)")


def _gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def resolve(options: Options) -> Options:
    gpus = _gpus()
    options.replicas = options.replicas or (gpus if gpus else 2)
    options.side = options.side or (512 if gpus else 256)
    options.clients = options.clients or 2 * options.max_batch * options.replicas
    if options.replicas < 1 or options.clients < 1 or not 64 <= options.side <= 4096:
        raise ValueError("replicas and clients must be >= 1, and the side 64..4096 px (B4)")
    return options


def _measure(port: int, options: Options, label: str, con) -> Sample:
    call = build_call(Api.AITHRIVING, options.side)
    # Warm-up: first calls pay allocation, kernel selection and connection set-up.
    run_concurrently(http_worker(port, call, timeout=600), min(options.clients, 4), 0.5, max_requests=8)
    with con.status(f"{label}: {options.clients} clients for {options.seconds:g} s ..."):
        return run_concurrently(http_worker(port, call, timeout=600), options.clients, options.seconds)


def single_process(options: Options, con) -> Sample:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "inpaint_conformance.harness.cli",
        "serve",
        "--engine",
        "reference",
        "--model",
        options.model,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--api-key",
        f"{BENCH_KEY}={BENCH_CREDITS}",
        "--max-batch",
        str(options.max_batch),
        "--device",
        options.device,
    ]
    argv += ["--steps", str(options.steps)] if options.steps else []
    argv += ["--dtype", options.dtype] if options.dtype else []
    with con.status("single process: loading the model ..."):
        server = ServerProcess("reference", argv, port, env=checkout_env(), cwd=REPO).wait_ready(
            timeout=900, probe=lambda: _get(f"http://{LOOPBACK}:{port}", "/__fake__/credits", BENCH_KEY) is not None
        )
    try:
        return _measure(port, options, "single process", con)
    finally:
        server.stop()


def ray_replicas(options: Options, counts: list[int], con) -> dict[int, tuple[Sample, dict]]:
    """Deploy with each replica count in turn (one local Ray instance) and measure."""
    from inpaint_conformance.reference_impl.ray_runtime import deploy, shutdown
    from inpaint_conformance.reference_impl.ray_settings import RaySettings

    results: dict[int, tuple[Sample, dict]] = {}
    port = free_port()
    try:
        for count in counts:
            settings = RaySettings(
                engine="reference",
                model=options.model,
                device=options.device,
                dtype=options.dtype,
                steps=options.steps,
                max_batch=options.max_batch,
                replicas=count,
                api_keys=[(BENCH_KEY, BENCH_CREDITS)],
            )
            started = time.perf_counter()
            with con.status(f"Ray Serve: deploying {count} replica(s) ..."):
                base_url = deploy(settings, host=LOOPBACK, port=port)
            ready = time.perf_counter() - started
            sample = _measure(port, options, f"Ray Serve, {count} replica(s)", con)
            results[count] = (sample, {"ready_s": round(ready, 1), "jobs_per_replica": _jobs(base_url)})
            shutdown(keep_ray=True)
    finally:
        shutdown()
    return results


def _get(base_url: str, path: str, key: str | None = None) -> dict | None:
    """GET a JSON object from the server; None while it cannot answer 200."""
    conn = http.client.HTTPConnection(base_url.split("//", 1)[1], timeout=10)
    try:
        conn.request("GET", path, headers={"authorization": key} if key else {})
        response = conn.getresponse()
        body = response.read()
        return json.loads(body) if response.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def _jobs(base_url: str) -> dict[str, int]:
    replicas = (_get(base_url, "/__ray__/replicas") or {}).get("replicas", {})
    return {replica: counts["jobs"] for replica, counts in replicas.items()}


def run_ray_bench(options: Options, con=None) -> dict:
    """Measure and print; the numbers as a dict (bench/reference.py writes it into its JSON)."""
    from rich.table import Table

    con = con or console()
    options = resolve(options)
    counts = sorted({1, options.replicas})
    single = single_process(options, con)
    ray = ray_replicas(options, counts, con)
    table = Table(
        title=f"reference engine ({options.model}), {options.side}x{options.side} PNG, "
        f"{options.clients} clients: images/s  (p50 / p99 ms)",
        title_justify="left",
    )
    for name in ("server", "images/s", "latency", "vs single process", "errors", "ready in", "jobs per replica"):
        table.add_column(name, justify="left" if name in ("server", "jobs per replica") else "right")

    def row(name: str, sample: Sample, extra: dict | None) -> None:
        table.add_row(
            name,
            fmt_rate(sample.throughput),
            f"{fmt_ms(sample.p50)} / {fmt_ms(sample.p99)}",
            fmt_ratio(ratio(sample.throughput, single.throughput)),
            str(sample.errors),
            f"{extra['ready_s']} s" if extra else "-",
            ", ".join(str(j) for j in extra["jobs_per_replica"].values()) if extra else "-",
        )

    row("single process (serve)", single, None)
    for count, (sample, extra) in ray.items():
        row(f"Ray Serve, {count} replica(s)", sample, extra)
    con.print(table)
    for name, sample in [("single process", single), *[(f"{c} replica(s)", s) for c, (s, _) in ray.items()]]:
        if sample.errors:
            con.print(f"[yellow]{name}: {sample.errors} failed requests, first: {sample.first_error}[/]")
    return {
        "options": vars(options),
        "single_process": single.to_dict(),
        "ray": {str(count): {**sample.to_dict(), **extra} for count, (sample, extra) in ray.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--replicas", type=int, help="N (default: every GPU, or 2 without GPUs)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, help="concurrent clients (default: 2 x max batch x N)")
    parser.add_argument("--side", type=int, help="image side in px (default 512 with CUDA, else 256)")
    parser.add_argument("--device", choices=("cuda", "cpu", "auto"), default="auto")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    try:
        import ray.serve  # noqa: F401
    except ImportError:
        print(
            "bench/reference_ray.py needs the 'cluster' extra: pip install 'inpaint-conformance[cluster]'",
            file=sys.stderr,
        )
        return 2
    con = console()
    info = print_machine(con, "bench/reference_ray.py: the reference engine on Ray Serve", command_line())
    options = Options(
        model=args.model,
        replicas=args.replicas,
        steps=args.steps,
        max_batch=args.max_batch,
        seconds=args.seconds,
        clients=args.clients,
        side=args.side,
        device=args.device,
        dtype=args.dtype,
    )
    try:
        numbers = run_ray_bench(options, con)
    except (RuntimeError, ValueError) as exc:
        con.print(f"[red]the bench could not run: {exc}[/]")
        return 2
    write_json(args.json, {"machine": info, "command": command_line(), **numbers})
    return 0


if __name__ == "__main__":
    sys.exit(main())
