"""`inpaint-conformance ray-config`: print the Ray Serve config YAML for `serve deploy`.

The same application `serve --ray` runs, as a file a cluster operator keeps and
deploys: `inpaint-conformance ray-config --model /models/sd-inpaint --replicas 4 > serve.yaml`
then `serve deploy serve.yaml` on the cluster. Needs neither Ray nor torch here.

Exit codes: 0 printed (or written), 2 a setting is out of range, with one line saying why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's flags."""
    parser.add_argument(
        "--engine", choices=("reference", "fake"), default="reference", help="what the engine replicas run"
    )
    parser.add_argument("--model", default="tiny-random", help="folder (on every node), hub id or tiny-random")
    parser.add_argument("--replicas", type=int, default=1, help="engine replicas (one model each)")
    parser.add_argument(
        "--ingress-replicas",
        type=int,
        default=1,
        help="replicas of the HTTP layer (validation, image work, ledger); more than 1 needs --db postgresql://",
    )
    parser.add_argument(
        "--max-replicas-per-node", type=int, help="at most this many engine (and ingress) replicas on one node"
    )
    parser.add_argument("--autoscale", metavar="MIN:MAX", help="scale engine replicas on queued requests instead")
    parser.add_argument("--gpus-per-replica", type=float, default=1.0, help="0 for CPU replicas, 0.5 to share a GPU")
    parser.add_argument("--cpus-per-replica", type=float, default=1.0, help="CPUs reserved per engine replica")
    parser.add_argument("--max-batch", type=int, default=4, help="requests painted together by one replica")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--device", choices=("cuda", "cpu", "auto"), default="auto", help="where replicas run")
    parser.add_argument(
        "--dtype",
        choices=("float16", "bfloat16", "float32"),
        help="weight precision (default: float16 on CUDA, float32 on CPU)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the store: postgresql://USER@HOST/DB (shared by every ingress replica; password in PGPASSWORD), "
        "or a SQLite path on the ingress node",
    )
    parser.add_argument(
        "--ait-failure-status",
        choices=("200", "4xx"),
        default="200",
        help="HTTP status of AIThriving failures (the decisions allow both)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="where Serve's proxies listen")
    parser.add_argument("--port", type=int, default=8000, help="port of Serve's HTTP proxies")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the YAML here (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from inpaint_conformance.reference_impl.ray_config import serve_config_yaml
    from inpaint_conformance.reference_impl.ray_settings import RaySettings, SettingsError, parse_autoscale

    try:
        if not 0 < args.port <= 65535:
            raise SettingsError(f"--port must be in 1..65535, got {args.port}")
        settings = RaySettings(
            engine=args.engine,
            model=args.model,
            device=args.device,
            dtype=args.dtype,
            steps=args.steps,
            compile=args.compile,
            max_batch=args.max_batch,
            replicas=args.replicas,
            ingress_replicas=args.ingress_replicas,
            max_replicas_per_node=args.max_replicas_per_node,
            autoscale=parse_autoscale(args.autoscale),
            gpus_per_replica=args.gpus_per_replica,
            cpus_per_replica=args.cpus_per_replica,
            db=args.db,
            ait_failure_status=400 if args.ait_failure_status == "4xx" else 200,
        )
    except SettingsError as exc:
        print(f"inpaint-conformance ray-config: {exc}", file=sys.stderr)
        return 2
    # Record the command line in the file only when it is this command's (not a test runner's).
    command = " ".join(["inpaint-conformance", *sys.argv[1:]]) if sys.argv[1:2] == ["ray-config"] else None
    try:
        text = serve_config_yaml(settings, host=args.host, port=args.port, command=command)
    except SettingsError as exc:
        print(f"inpaint-conformance ray-config: {exc}", file=sys.stderr)
        return 2
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(
                f"inpaint-conformance ray-config: cannot write {args.output} ({exc.strerror}): "
                "give a writable path, or leave --output out to print",
                file=sys.stderr,
            )
            return 2
        print(f"wrote {args.output}: deploy it with `serve deploy {args.output}`", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
