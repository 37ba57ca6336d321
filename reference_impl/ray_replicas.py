"""Watching the Ray app's replicas from the driver: how many run, where, how busy; killing one.

What tests and benchmarks use to see Serve recover: `wait_replicas` until a deployment
is whole again (no dead replica counted), `replica_nodes` to find the node a replica
lives on (so a test can take that node away), `replica_load` to kill while it is busy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .ray_runtime import RayDeployError, app_status
from .ray_settings import APP_NAME, ENGINE_DEPLOYMENT


def engine_replica_states() -> dict[str, int]:
    """How many engine replicas are in each state (RUNNING, STARTING, ...)."""
    return replica_states(ENGINE_DEPLOYMENT)


def replica_states(deployment: str) -> dict[str, int]:
    """How many replicas of ``deployment`` are in each state (RUNNING, STARTING, ...)."""
    status = app_status()
    found = status.deployments.get(deployment) if status else None
    return dict(found.replica_states) if found else {}


def wait_engine_replicas(count: int, timeout_s: float = 120.0, *, replaced: Iterable[str] = ()) -> set[str]:
    """Until `count` engine replicas run, none of them in `replaced`; their replica ids."""
    return wait_replicas(ENGINE_DEPLOYMENT, count, timeout_s, replaced=replaced)


def wait_replicas(deployment: str, count: int, timeout_s: float = 120.0, *, replaced: Iterable[str] = ()) -> set[str]:
    """Until `count` replicas of ``deployment`` run, none of them in `replaced`; their replica ids.

    After a crash Serve's status still counts the dead replica as running until its
    controller notices, so "healthy" alone is not "recovered": the live replica actors
    must be `count` too, none of them a dead one.
    """
    gone = set(replaced)
    deadline = time.monotonic() + timeout_s
    while True:
        status = app_status()
        found = status.deployments.get(deployment) if status else None
        live = set(replica_actors(deployment))
        if (
            found
            and found.status == "HEALTHY"
            and found.replica_states.get("RUNNING", 0) == count
            and sum(found.replica_states.values()) == count
            and len(live) == count
            and not live & gone
        ):
            return live
        if time.monotonic() > deadline:
            raise RayDeployError(
                f"{count} healthy {deployment} replicas expected within {timeout_s:.0f} s; "
                f"states now: {replica_states(deployment)}, live: {sorted(live)}"
            )
        time.sleep(0.25)


def engine_replica_actors() -> dict[str, Any]:
    """The engine replicas' actor handles by replica id (from Ray's named actors)."""
    return replica_actors(ENGINE_DEPLOYMENT)


def replica_actors(deployment: str) -> dict[str, Any]:
    """The actor handles of ``deployment``'s replicas by replica id (from Ray's named actors)."""
    import ray

    found = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name, namespace = entry["name"], entry["namespace"]
        # Serve names replicas SERVE_REPLICA::<app>#<deployment>#<replica id>.
        parts = name.split("::", 1)[-1].split("#")
        if name.startswith("SERVE_REPLICA::") and parts[:2] == [APP_NAME, deployment] and len(parts) == 3:
            try:
                found[parts[2]] = ray.get_actor(name, namespace=namespace)
            except ValueError:  # died between the listing and the lookup
                continue
    return found


def replica_nodes(deployment: str) -> dict[str, str]:
    """The Ray node id each live replica of ``deployment`` runs on, by replica id."""
    import ray

    nodes = {}
    for replica, actor in replica_actors(deployment).items():
        try:
            nodes[replica] = ray.get(actor.__ray_call__.remote(_node_id), timeout=10)
        except Exception:  # a replica that is going away has no node to report
            continue
    return nodes


def replica_pids(deployment: str, replicas: Iterable[str]) -> list[int]:
    """The process ids of some replicas of ``deployment`` (all on this machine's nodes in a test cluster)."""
    import ray

    actors = replica_actors(deployment)
    return [ray.get(actors[replica].__ray_call__.remote(_pid), timeout=10) for replica in replicas]


def _pid(_actor: Any) -> int:
    import os

    return os.getpid()


def _node_id(_actor: Any) -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def engine_replica_load(replica: str) -> int | None:
    """Requests queued or running in one engine replica, by Serve's own count; None if unknown."""
    return replica_load(ENGINE_DEPLOYMENT, replica)


def replica_load(deployment: str, replica: str) -> int | None:
    """Requests queued or running in one replica of ``deployment``, by Serve's own count; None if unknown."""
    import ray

    actor = replica_actors(deployment).get(replica)
    if actor is None:
        return None
    try:  # the replica actor's method Serve's routers poll; not a public API, hence the fallback
        return int(ray.get(actor.get_num_ongoing_requests.remote(), timeout=5))
    except Exception:
        return None


def kill_engine_replica(replica: str) -> None:
    """Kill one engine replica's process as a crash would; Serve notices and starts another."""
    import ray

    actors = engine_replica_actors()
    if replica not in actors:
        raise KeyError(f"no engine replica {replica!r}; running: {', '.join(sorted(actors)) or 'none'}")
    ray.kill(actors[replica], no_restart=True)
