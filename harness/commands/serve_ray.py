"""`inpaint-conformance serve --ray [ADDRESS]`: the same server, on Ray Serve, past one GPU.

`serve` hands over here when `--ray` is given. No ADDRESS starts a local Ray instance
(this machine's CPUs and GPUs); an ADDRESS ("auto", "HOST:6379", "ray://HOST:10001")
joins a running cluster. The app is a front door on the head node, `--ingress-replicas N`
ingress replicas (the same HTTP layer as `serve`; more than one share a PostgreSQL
store, `--db postgresql://...`) and `--replicas N` engine replicas, one GPU each where
there are GPUs, or `--autoscale MIN:MAX` replicas scaled on queued requests. Ctrl-C removes the app (and stops the
local Ray instance it started). For a long-lived deployment on a cluster use
`inpaint-conformance ray-config ... > serve.yaml && serve deploy serve.yaml`.

Exit codes: 0 after a clean shutdown, 2 when it cannot start, with one line saying why.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from inpaint_conformance.reference_impl.ray_settings import RaySettings, SettingsError, is_loopback, parse_autoscale

DEV_KEY = "dev-key"


def settings_from_args(args: argparse.Namespace) -> tuple[RaySettings, str | None]:
    """The `serve` flags as Ray settings, and the cluster address (None: start Ray locally)."""
    from inpaint_conformance.fakes.control import check_key

    if getattr(args, "workers", 1) != 1:
        raise SettingsError("--workers does not apply with --ray: use --replicas N (engine replicas)")
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port must be in 0..65535, got {args.port}")
    if args.admin_token is not None and not args.admin_token.strip():
        raise SettingsError("--admin-token is empty: give a token, or drop the flag")
    keys = list(args.api_key) or [(DEV_KEY, None)]
    for key, _ in keys:
        try:
            check_key(key)
        except ValueError as exc:
            raise SettingsError(f"--api-key {key!r}: {exc}") from None
    if len({key for key, _ in keys}) != len(keys):
        raise SettingsError("an --api-key is given twice: give each key once")
    address = None if args.ray in (None, "", "local") else args.ray
    settings = RaySettings(
        engine=args.engine,
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        steps=args.steps,
        compile=args.compile,
        max_batch=args.max_batch,
        replicas=args.replicas,
        ingress_replicas=getattr(args, "ingress_replicas", 1),
        max_replicas_per_node=getattr(args, "max_replicas_per_node", None),
        autoscale=parse_autoscale(args.autoscale),
        gpus_per_replica=getattr(args, "gpus_per_replica", None),
        cpus_per_replica=getattr(args, "cpus_per_replica", None),
        api_keys=keys,
        db=_store_for_replicas(args.db),
        ait_failure_status=400 if args.ait_failure_status == "4xx" else 200,
        admin_token=args.admin_token,
    )
    return settings, address


def _store_for_replicas(db: str | None) -> str | None:
    """`--db` as the replicas must see it: a PostgreSQL URL as given, a SQLite path made absolute
    (the ingress replica opens it in another process, maybe another working directory)."""
    from inpaint_conformance.fakes.sql_database import is_postgres_url

    if not db or is_postgres_url(db):
        return db or None
    return str(Path(db).resolve())


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def run_ray(args: argparse.Namespace) -> int:
    try:
        settings, address = settings_from_args(args)
        from inpaint_conformance.reference_impl.ray_runtime import require_ray

        require_ray()
    except SettingsError as exc:
        return _refuse(str(exc))
    if address is None and args.port and not _port_is_free(args.host, args.port):
        return _refuse(f"port {args.port} on {args.host} is in use: pick another with --port")
    if address is None and settings.engine == "reference":
        from inpaint_conformance.reference_impl import ReferenceExtraMissing, require_reference_extra

        try:  # the replicas run on this machine: say so now, not in a replica's traceback
            require_reference_extra()
        except ReferenceExtraMissing as exc:
            return _refuse(str(exc))
    from inpaint_conformance.reference_impl.ray_runtime import RayDeployError, deploy, deployed_settings, shutdown

    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    scale = (
        f"{settings.autoscale[0]}..{settings.autoscale[1]} (autoscaled)"
        if settings.autoscale
        else str(settings.replicas)
    )
    print(
        f"starting {where}; {scale} engine replica(s) of {settings.engine} ({settings.model}); "
        "the URL is printed once every replica has loaded the model...",
        file=sys.stderr,
        flush=True,
    )
    previous: dict = {}
    try:
        try:  # Ctrl-C while replicas load is a KeyboardInterrupt: the finally below cleans up
            base_url = deploy(settings, address=address, host=args.host, port=args.port)
        except (RayDeployError, SettingsError) as exc:
            return _refuse(str(exc))
        print(_banner(deployed_settings() or settings, base_url, address), file=sys.stderr, flush=True)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        stop.wait()
        print("stopping: removing the app" + ("" if address else " and the local Ray instance"), file=sys.stderr)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutdown()


def _refuse(message: str) -> int:
    print(f"inpaint-conformance serve --ray: {message}", file=sys.stderr)
    return 2


def _banner(settings: RaySettings, base_url: str, address: str | None) -> str:
    from inpaint_conformance.fakes.banner import banner
    from inpaint_conformance.fakes.ledger import DEFAULT_CREDITS

    keys = {
        key: f"{DEFAULT_CREDITS if credits is None else credits} credits (a stored --db balance is kept)"
        for key, credits in settings.api_keys
    }
    if is_loopback(base_url.split("//", 1)[-1].rsplit(":", 1)[0]):
        admin = "open (the proxy is bound to loopback)"
    elif settings.admin_token or os.environ.get("INPAINT_CONFORMANCE_ADMIN_TOKEN"):
        admin = "needs the admin token in header `x-admin-token`"
    else:
        admin = "refused (not bound to loopback): add --admin-token TOKEN to allow it"
    replicas = (
        f"autoscaled {settings.autoscale[0]}..{settings.autoscale[1]}" if settings.autoscale else f"{settings.replicas}"
    )
    engine = (
        f"{settings.engine} ({settings.model}) on Ray Serve: {replicas} engine replica(s), "
        f"{settings.gpus_per_replica or 0:g} GPU and {settings.cpus_per_replica or 1:g} CPU each, "
        f"behind {settings.ingress_replicas} ingress replica(s)" + (f", cluster {address}" if address else "")
    )
    from inpaint_conformance.fakes.sql_database import is_postgres_url, redact_url

    if is_postgres_url(settings.db):
        ledger = f"PostgreSQL {redact_url(str(settings.db))}, shared by {settings.ingress_replicas} ingress replica(s)"
    elif settings.db:
        ledger = f"SQLite {settings.db} (kept across restarts), in the ingress replica"
    else:
        ledger = "in memory, in the ingress replica"
    title = f"{'reference' if settings.engine == 'reference' else 'fake'} provider ready (engine: {engine})"
    text = banner(base_url=base_url, title=title, keys=keys, other_keys=0, ledger=ledger, admin=admin)
    return (
        text
        + f"\n  replicas    GET  {base_url}/__ray__/replicas   (jobs each engine replica painted for one ingress replica)"
    )
