"""Driving the Ray Serve app from this process: start or join Ray, deploy, watch, stop.

    from inpaint_conformance.reference_impl.ray_runtime import deploy, shutdown
    base_url = deploy(RaySettings(model="tiny-random", replicas=2), num_cpus=2)
    ...  # any HTTP client, `verify --base-url`, the bench
    shutdown()

`deploy(..., address=None)` starts a local Ray instance (this machine's CPUs and GPUs);
an address ("auto", "HOST:6379" or "ray://HOST:10001") joins an existing cluster, and
`shutdown()` then removes only this app and leaves the cluster alone.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ray_settings import APP_NAME, RaySettings, SettingsError, is_loopback

log = logging.getLogger("inpaint_conformance.ray")
NAMESPACE = "inpaint-conformance"
SUBPACKAGES = ("contracts", "fakes", "harness", "reference_impl")
QUIET_LOGS = {"log_level": "WARNING", "enable_access_log": False}


class RayDeployError(RuntimeError):
    """The app could not be deployed; the message says what Serve reported and what to do."""


@dataclass
class _State:
    started_ray: bool = False  # this process started the Ray instance (so it stops it)
    base_url: str | None = None
    settings: RaySettings | None = None  # as deployed: GPUs and CPUs per replica decided


_state = _State()


def _package_for_cluster() -> str:
    """A folder holding the whole `inpaint_conformance` package, for Ray's `py_modules`.

    Installed from a wheel, the package's own folder holds every subpackage. Installed
    editable from a checkout, the subpackages live in the checkout's top-level folders:
    they are copied under one temporary `inpaint_conformance/` so the nodes see the
    same import names.
    """
    import shutil
    import tempfile

    import inpaint_conformance

    home = Path(inpaint_conformance.__file__).resolve().parent
    if all((home / name).is_dir() for name in SUBPACKAGES):
        return str(home)
    staged = Path(tempfile.mkdtemp(prefix="inpaint-conformance-ray-")) / "inpaint_conformance"
    shutil.copytree(home, staged, ignore=shutil.ignore_patterns("__pycache__"))
    for name in SUBPACKAGES:
        module = importlib.import_module(f"inpaint_conformance.{name}")
        assert module.__file__ is not None, f"{module.__name__} is imported from files"
        shutil.copytree(
            Path(module.__file__).resolve().parent, staged / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return str(staged)


def start_ray(address: str | None = None, *, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Start a local Ray instance (address None) or connect to a running cluster."""
    import ray

    if ray.is_initialized():
        return
    # Ray reports usage statistics over the network by default; this tool never phones home.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        ray.init(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=False,
            namespace=NAMESPACE,
            logging_level=logging.WARNING,
        )
        _state.started_ray = True
        return
    # The cluster's nodes get this project's own code (small, pure Python) with the job,
    # as the whole `inpaint_conformance` package; its dependencies (torch, diffusers,
    # ray[serve]) must be installed there. Local workers share this interpreter.
    runtime_env = {"py_modules": [_package_for_cluster()]}
    try:
        ray.init(address=address, namespace=NAMESPACE, runtime_env=runtime_env, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise RayDeployError(
            f"could not join the Ray cluster at {address!r}: {error}. "
            "Check the address (`ray status` on the head node prints it) or omit it "
            "to start a local Ray instance."
        ) from error


def fit_resources(settings: RaySettings) -> RaySettings:
    """Settings with GPUs and CPUs per replica decided; refuses what local Ray could never schedule.

    Unschedulable replicas would wait forever, so a local instance refuses them here with
    the numbers; on a cluster (whose autoscaler may add nodes) they are a warning.
    GPUs: the settings' choice, else one per replica where the cluster has any. CPUs: the
    settings' choice, else 1, or an equal share of the cluster when N replicas of 1 do not fit.
    """
    import ray

    from .ray_options import gpus_per_replica

    resources = ray.cluster_resources()
    have_gpu, have_cpu = float(resources.get("GPU", 0.0)), float(resources.get("CPU", 0.0))
    first = settings.first_replicas
    gpus = gpus_per_replica(settings, have_gpu)
    ingress_cpus = settings.ingress_cpus * settings.ingress_replicas
    cpus = settings.cpus_per_replica
    if cpus is None:
        cpus = min(1.0, round((have_cpu - ingress_cpus) / first, 3)) if have_cpu > ingress_cpus else 1.0
    problems = []
    if first * gpus > have_gpu + 1e-9:
        problems.append(
            f"{first} engine replica(s) x {gpus:g} GPU need {first * gpus:g} GPUs; the cluster has "
            f"{have_gpu:g}. Use fewer --replicas, or --gpus-per-replica 0.5 to share GPUs."
        )
    if first * cpus + ingress_cpus > have_cpu + 1e-9:
        problems.append(
            f"{first} engine replica(s) x {cpus:g} CPU + {settings.ingress_replicas} ingress x "
            f"{settings.ingress_cpus:g} CPU need {first * cpus + ingress_cpus:g} CPUs; the cluster has {have_cpu:g}. "
            "Lower the CPUs per replica or the replicas."
        )
    if problems and _state.started_ray:  # a local instance never grows
        raise RayDeployError(" ".join(problems))
    for problem in problems:  # a cluster's autoscaler may add nodes: say so, then wait (bounded)
        log.warning("%s Waiting for the cluster to add nodes.", problem)
    return settings.replace(gpus_per_replica=gpus, cpus_per_replica=cpus)


def deploy(
    settings: RaySettings,
    *,
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    num_cpus: int | None = None,
    timeout_s: float = 600.0,
    quiet: bool = True,
) -> str:
    """Deploy the app (starting or joining Ray first); the base URL once every replica is ready."""
    from ray import serve

    from .ray_app import build_app

    start_ray(address, num_cpus=num_cpus)
    if quiet:  # Serve's own INFO lines (controller, proxy, "connecting...") drown the useful ones
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
    settings = fit_resources(settings)
    if is_loopback(host) and not settings.loopback_only:
        settings = settings.replace(loopback_only=True)  # nobody else can reach it: admin calls need no token
    if settings.run is None:  # a new server run: the journal and faults start empty
        settings = settings.replace(run=uuid.uuid4().hex)
    serve.start(
        http_options={"host": host, "port": port},
        proxy_location="HeadOnly",
        logging_config=QUIET_LOGS if quiet else None,
    )
    app = build_app(settings.to_args())
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve.run(
                app, name=APP_NAME, route_prefix="/", blocking=False, logging_config=QUIET_LOGS if quiet else None
            )
        except BaseException as error:
            failure.append(error)

    runner = threading.Thread(target=run, name="serve-run", daemon=True)
    runner.start()
    wait_running(timeout_s, runner=runner, failure=failure)
    _state.base_url = f"http://{_http_address(host, port)}"
    _state.settings = settings
    return _state.base_url


def deployed_settings() -> RaySettings | None:
    """The settings the running app was deployed with (resources resolved), or None."""
    return _state.settings


def _http_address(host: str, port: int) -> str:
    """Where the proxy listens: what this process asked for, or what a running Serve already had."""
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        if client is not None:
            host, port = client.http_config.host, client.http_config.port
    except Exception:
        pass
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"{shown}:{port}"


def app_status() -> Any | None:
    from ray import serve

    return serve.status().applications.get(APP_NAME)


def wait_running(
    timeout_s: float, *, runner: threading.Thread | None = None, failure: list[BaseException] | None = None
) -> None:
    """Until the app is RUNNING and every deployment HEALTHY; a clear error on failure or timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = app_status()
        if failure:
            why = _messages(status) if status is not None else _condensed(str(failure[0]))
            raise RayDeployError(f"Serve could not deploy the app: {why}") from failure[0]
        healthy = (
            status is not None
            and status.status == "RUNNING"
            and all(d.status == "HEALTHY" for d in status.deployments.values())
        )
        if healthy and (runner is None or not runner.is_alive()):
            return
        if status is not None and status.status == "DEPLOY_FAILED":
            raise RayDeployError(f"Serve could not deploy the app: {_messages(status)}")
        if time.monotonic() > deadline:
            raise RayDeployError(
                f"the app was not ready within {timeout_s:.0f} s: {_messages(status) if status else 'no status yet'}"
            )
        time.sleep(0.25)


def _messages(status: Any) -> str:
    parts = [_condensed(status.message)] if status.message else []
    parts += [f"{name}: {_word(d.status)} {_condensed(d.message)}".strip() for name, d in status.deployments.items()]
    return "; ".join(parts) or _word(status.status)


def _word(status: Any) -> str:
    return str(getattr(status, "value", status))  # DEPLOY_FAILED, not DeploymentStatus.DEPLOY_FAILED


def _condensed(message: str) -> str:
    """Serve's first line plus a traceback's last line (the error itself), not the traceback."""
    lines = [line.rstrip() for line in message.splitlines() if line.strip()]
    if not any(line.lstrip().startswith(("File ", "Traceback")) for line in lines):
        return message
    error = lines[-1].strip().removeprefix("RuntimeError: ")
    return f"{lines[0].rstrip(' :')}: {error} (the full traceback: `serve status`, or the logs in /tmp/ray)"


def shutdown(*, keep_ray: bool = False) -> None:
    """Remove the app; stop Serve and Ray too when this process started them (unless keep_ray)."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        return
    stop_ray = _state.started_ray and not keep_ray
    try:
        if stop_ray:
            serve.shutdown()
        else:
            serve.delete(APP_NAME)
    finally:
        if stop_ray:
            ray.shutdown()
            _state.started_ray = False
        _state.base_url = None
        _state.settings = None


def require_ray() -> None:
    """A clear install hint instead of an ImportError traceback."""
    try:
        import ray.serve  # noqa: F401
    except ImportError as error:
        raise SettingsError(
            f"Ray Serve is not installed: pip install 'inpaint-conformance[cluster]' (it brings ray[serve]); {error}"
        ) from error


__all__ = [
    "RayDeployError",
    "deploy",
    "deployed_settings",
    "require_ray",
    "shutdown",
    "start_ray",
    "wait_running",
]
