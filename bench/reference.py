"""Latency and images/s of the reference engine against a plain diffusers call loop, in one run.

    python bench/reference.py                                  # tiny-random, 128 px, 2 steps (CPU: ~1 min)
    python bench/reference.py --model /models/sd-inpaint --size 512 --steps 20 --concurrency 1,4,8
    python bench/reference.py --model sd15-random --steps 2 --concurrency 1,2 --warmup 1 --seconds 90
                                                               # SD 1.5's real compute, random weights, no download
    python bench/reference.py --ray --replicas N               # Ray Serve instead (bench/reference_ray.py)

Two ways to paint the same request (same model object, steps, dtype, size, prompt):
  plain   a loop of `pipeline(...)` calls, one image per call, from one caller: the
          baseline, measured once and shown on every row (client counts do not apply;
          sharing one pipeline between threads needs a lock, which only adds queueing);
  engine  DiffusersEngine.inpaint() from N client threads; its worker thread batches
          requests that arrive together (up to --max-batch) into one pipeline call.
Each measurement runs for --seconds after a short warm-up (--warmup requests per client;
a request that starts before the deadline is finished and counted, so --seconds shorter
than one image still measures one). The table shows p50 latency and images/s per way
and the engine/plain ratios. Numbers are printed, never asserted: the exit code is 0
whenever the bench could run.

Adding a way (e.g. HTTP through `inpaint-conformance serve --engine reference`): write a
class with `name`, `fixed_clients` (None: the row's client count), `make_worker()` (one
callable per client thread that paints one image and returns None or an error text),
`extra()` and `close()`, like BatchingEngine below, and append it in `build_ways`; the
table grows a column group and a ratio column.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny model needs no hub; real ones come from folders
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PROMPT,
    Sample,
    command_line,
    console,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    mask_png,
    picture_png,
    print_machine,
    ratio,
    write_json,
)
from _load import run_concurrently
from PIL import Image

Worker = Callable[[], "str | None"]
TINY_SIZE = 128  # tiny-random's native side: bigger only costs time, it is random either way
FIRST_SEED = 1000


def decoded_inputs(side: int) -> tuple[Image.Image, Image.Image]:
    """The shared bench picture and centre-quarter mask, decoded once (decoding is not measured)."""
    image = Image.open(io.BytesIO(picture_png(side))).convert("RGB")
    mask = Image.open(io.BytesIO(mask_png(side))).convert("L")
    return image, mask


class PlainPipeline:
    """One diffusers call per image, from a single caller."""

    name = "plain"
    fixed_clients = 1

    def __init__(self, engine, image: Image.Image, mask: Image.Image, steps: int) -> None:
        import torch

        self._torch = torch
        self._pipeline = engine.pipeline  # the very same weights, dtype and device as the engine
        self._device = engine.device
        self._guidance = engine.guidance_scale
        self._width, self._height = engine.working_size(image.size)
        self._image, self._mask, self._steps = image, mask, steps
        self._seeds = itertools.count(FIRST_SEED)

    def make_worker(self) -> Worker:
        def paint_one() -> None:
            generator = self._torch.Generator(self._device).manual_seed(next(self._seeds))
            with self._torch.inference_mode():
                self._pipeline(
                    prompt=PROMPT,
                    image=self._image,
                    mask_image=self._mask,
                    generator=generator,
                    num_inference_steps=self._steps,
                    guidance_scale=self._guidance,
                    height=self._height,
                    width=self._width,
                )
            return None

        return paint_one

    def extra(self) -> str:
        return ""

    def close(self) -> None:
        return None


class BatchingEngine:
    """DiffusersEngine.inpaint() from every client thread; the engine batches."""

    name = "engine"
    fixed_clients = None

    def __init__(self, engine, image: Image.Image, mask: Image.Image) -> None:
        from inpaint_conformance.fakes.engine import InpaintJob

        self._engine = engine
        self._job = lambda seed: InpaintJob(image, mask, PROMPT, None, seed)
        self._seeds = itertools.count(FIRST_SEED)
        self._mark = (0, 0)

    def make_worker(self) -> Worker:
        def paint_one() -> None:
            self._engine.inpaint(self._job(next(self._seeds)))
            return None

        return paint_one

    def start(self) -> None:
        """Mark the batch counters, so extra() reports this measurement only."""
        self._mark = (self._engine.stats.batches, self._engine.stats.requests)

    def extra(self) -> str:
        batches = self._engine.stats.batches - self._mark[0]
        requests = self._engine.stats.requests - self._mark[1]
        return f"{requests / batches:.1f}" if batches else "-"

    def close(self) -> None:
        self._engine.close()


def measure(way, concurrency: int, seconds: float, warmup: int = 2) -> tuple[Sample, str]:
    """Warm up (first calls pick kernels for the new batch shape), then measure for `seconds`."""
    if warmup:
        run_concurrently(way.make_worker, concurrency, seconds=60.0, max_requests=warmup * concurrency)
    if hasattr(way, "start"):
        way.start()
    sample = run_concurrently(way.make_worker, concurrency, seconds)
    return sample, way.extra()


def build_ways(args: argparse.Namespace):
    """Load the engine once; every way paints with its pipeline."""
    from inpaint_conformance.reference_impl import load_engine

    size = args.size or (TINY_SIZE if args.model == "tiny-random" else 512)
    # tiny-random's native side is arbitrary: let it paint at the asked size, so a bigger
    # --size really costs more. Real models keep their native cap (SD 512, SDXL 1024).
    native = max(size, TINY_SIZE) if args.model == "tiny-random" else None
    engine = load_engine(
        args.model,
        device=args.device,
        dtype=args.dtype,
        steps=args.steps,
        max_batch=args.max_batch,
        compile=args.compile,
        native_size=native,
    )
    image, mask = decoded_inputs(size)
    ways = [PlainPipeline(engine, image, mask, engine.steps), BatchingEngine(engine, image, mask)]
    return engine, size, ways


def print_table(con, title: str, levels: list[int], ways, results) -> None:
    from rich.table import Table

    baseline = ways[0].name
    table = Table(title=title, title_justify="left")
    table.add_column("clients", justify="right")
    for way in ways:
        callers = f" ({way.fixed_clients} caller)" if way.fixed_clients else ""
        table.add_column(f"{way.name}{callers} p50 ms", justify="right")
        table.add_column(f"{way.name} img/s", justify="right")
        if way.name == "engine":
            table.add_column("mean batch", justify="right")
    for way in ways[1:]:
        table.add_column(f"{way.name}/{baseline} img/s", justify="right")
        table.add_column(f"{way.name}/{baseline} p50", justify="right")
    for level in levels:
        row = [str(level)]
        for way in ways:
            sample, extra = results[way.name][level]
            row += [fmt_ms(sample.p50), fmt_images_per_s(sample.throughput)]
            if way.name == "engine":
                row.append(extra)
        base = results[baseline][level][0]
        for way in ways[1:]:
            sample = results[way.name][level][0]
            row += [fmt_ratio(ratio(sample.throughput, base.throughput)), fmt_ratio(ratio(sample.p50, base.p50))]
        table.add_row(*row)
    con.print(table)


def fmt_images_per_s(value: float | None) -> str:
    """fmt_rate, but a full-size model on a CPU paints ~0.02 img/s, which it would show as 0.0."""
    return f"{value:.3g}" if value and value < 1 else fmt_rate(value)


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated client counts like 1,2,4,8, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be >= 1, got {text!r}")
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="tiny-random",
        help="tiny-random, sd15-random (SD 1.5 at full size, random weights), a save_pretrained folder or a hub id",
    )
    parser.add_argument("--size", type=int, help="square picture side in px (default 128 for tiny-random, else 512)")
    parser.add_argument("--steps", type=int, help="denoising steps (default 2 for tiny-random, else 20)")
    parser.add_argument("--concurrency", type=parse_levels, default=[1, 2, 4, 8], metavar="N,N,...")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per way and client count")
    # 2 is cheap for tiny-random; at ~44 s per 2-step 512 px sd15-random image on 2 cores, 1 saves minutes a cell.
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        metavar="N",
        help="unmeasured requests per client before each measurement (default 2)",
    )
    parser.add_argument("--device", choices=("cuda", "cpu", "auto"), default="auto")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet (recompiles per batch size)")
    parser.add_argument(
        "--cpu-threads",
        type=int,
        metavar="N",
        help="torch intra-op threads (default: torch's own); 1 is steadiest on a busy box",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    try:
        from reference_ray import add_ray_arguments
    except ImportError:  # the Ray bench is optional; without it there is no --ray mode
        add_ray_arguments = None
    if add_ray_arguments:
        add_ray_arguments(parser)
    args = parser.parse_args(argv)
    if getattr(args, "ray", False):
        return run_ray(args)

    con = console()
    info = print_machine(con, "bench/reference.py: reference engine versus a plain pipeline loop", command_line())
    threads = set_cpu_threads(args.cpu_threads)
    warn_if_busy(con, threads)
    try:
        engine, size, ways = build_ways(args)
    except (ImportError, ValueError, RuntimeError) as exc:
        con.print(f"[red]the bench could not run: {type(exc).__name__}: {exc}[/]")
        return 2
    results: dict[str, dict[int, tuple[Sample, str]]] = {way.name: {} for way in ways}
    try:
        for level in args.concurrency:
            for way in ways:
                clients = way.fixed_clients or level
                done = next((r for r in results[way.name].values() if way.fixed_clients), None)
                if done is not None:  # a fixed-client way is measured once and shown on every row
                    results[way.name][level] = done
                    continue
                with con.status(f"{way.name}: {clients} client(s) for {args.seconds:g} s ..."):
                    results[way.name][level] = measure(way, clients, args.seconds, args.warmup)
    finally:
        for way in reversed(ways):
            way.close()
    width, height = engine.working_size((size, size))
    title = (
        f"{args.model}, {size}x{size} in, painted at {width}x{height}, {engine.steps} steps, "
        f"{engine.pipeline.dtype}, {engine.device}, max batch {engine.max_batch}, {threads} torch CPU thread(s)"
    )
    print_table(con, title, args.concurrency, ways, results)
    for way in ways:
        for level, (sample, _) in results[way.name].items():
            if sample.errors:
                con.print(
                    f"[yellow]{way.name} at {level} clients: {sample.errors} failed, first: {sample.first_error}[/]"
                )
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "title": title,
            # images_per_s unrounded: to_dict's 2 decimals leave one digit of a 0.02 img/s model.
            "results": {
                way.name: {
                    str(level): {**sample.to_dict(), "images_per_s": sample.throughput, "extra": extra}
                    for level, (sample, extra) in results[way.name].items()
                }
                for way in ways
            },
        },
    )
    return 0


def set_cpu_threads(wanted: int | None) -> int:
    import torch

    if wanted:
        torch.set_num_threads(wanted)
    return torch.get_num_threads()


def warn_if_busy(con, threads: int) -> None:
    """OpenMP threads wait for each other at every op; when other processes hold the cores,
    each wait can last a scheduler time slice and CPU timings turn 5-10x slower and erratic."""
    if not hasattr(os, "getloadavg") or threads < 2:
        return
    load, cores = os.getloadavg()[0], len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if load > cores:
        con.print(
            f"[yellow]the machine is busy (load {load:.1f} on {cores} cores) and torch uses {threads} threads: "
            "CPU numbers will be erratic; pass --cpu-threads 1 for steadier ones[/]"
        )


def run_ray(args: argparse.Namespace) -> int:
    """--ray: hand over to bench/reference_ray.py with the flags both benches share."""
    import reference_ray

    forwarded = ["--model", args.model, "--max-batch", str(args.max_batch), "--device", args.device]
    forwarded += ["--replicas", str(args.replicas)] if args.replicas else []
    forwarded += ["--steps", str(args.steps)] if args.steps else []
    forwarded += ["--side", str(args.size)] if args.size else []
    forwarded += ["--dtype", args.dtype] if args.dtype else []
    forwarded += ["--json", args.json] if args.json else []
    return reference_ray.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
