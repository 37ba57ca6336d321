"""Serve deployment options of the three deployments, from the settings (no Ray import).

`serve --ray` deploys with these and `ray-config` writes them into the YAML, so a
config file and a command line with the same settings deploy the same thing.
"""

from __future__ import annotations

from typing import Any

from .ray_settings import RaySettings

# Read by the ingress when no admin token is in the settings, so a Serve config need not hold it.
ADMIN_TOKEN_ENV = "INPAINT_CONFORMANCE_ADMIN_TOKEN"
INGRESS_MAX_ONGOING = 1000  # the ingress only waits on replicas; the engine bounds the real work
FRONT_MAX_ONGOING = 4000  # the front door only waits on ingress replicas
# Ray's resource on the head node only: the front door lives there, beside Serve's proxy and
# controller, on the one node a Ray cluster cannot lose (the way Ray's own libraries pin actors there).
HEAD_NODE_RESOURCE = "node:__internal_head__"
HEALTH_CHECK_TIMEOUT_S = 60  # a replica busy loading or painting on CPU is slow, not dead


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0


def gpus_per_replica(settings: RaySettings, available_gpus: float | None = None) -> float:
    """The settings' choice, or one GPU per replica where the cluster has any."""
    if settings.gpus_per_replica is not None:
        return settings.gpus_per_replica
    available = cluster_gpus() if available_gpus is None else available_gpus
    return 1.0 if available > 0 else 0.0


def engine_options(settings: RaySettings, gpus: float) -> dict[str, Any]:
    """Serve deployment options of the engine: replicas or autoscaling, resources, queue depth."""
    options: dict[str, Any] = {
        "ray_actor_options": {
            "num_cpus": 1.0 if settings.cpus_per_replica is None else settings.cpus_per_replica,
            "num_gpus": gpus,
        },
        # One batch painting and one filling up; more would only queue inside a replica.
        "max_ongoing_requests": 2 * settings.max_batch,
        "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S,
    }
    if settings.autoscale:
        low, high = settings.autoscale
        options["autoscaling_config"] = {
            "min_replicas": low,
            "max_replicas": high,
            "initial_replicas": max(low, 1),
            # Scale on requests queued or running per replica: a full batch each is the target.
            "target_ongoing_requests": settings.max_batch,
        }
    else:
        options["num_replicas"] = settings.replicas
    return {**options, **_per_node(settings)}


def ingress_options(settings: RaySettings) -> dict[str, Any]:
    """The HTTP layer's replicas: one over SQLite or memory, N over a PostgreSQL store they share."""
    return {
        "num_replicas": settings.ingress_replicas,
        "max_ongoing_requests": INGRESS_MAX_ONGOING,
        "ray_actor_options": {"num_cpus": settings.ingress_cpus},
        **_per_node(settings),
    }


def front_options(settings: RaySettings) -> dict[str, Any]:
    """The front door: one replica on the head node, no CPU reserved (it only forwards bytes)."""
    return {
        "num_replicas": 1,
        "max_ongoing_requests": FRONT_MAX_ONGOING,
        "ray_actor_options": {"num_cpus": 0, "resources": {HEAD_NODE_RESOURCE: 0.001}},
    }


def _per_node(settings: RaySettings) -> dict[str, Any]:
    # Serve places replicas with Ray's SPREAD strategy (a soft spread over nodes); this makes it a hard cap.
    return {"max_replicas_per_node": settings.max_replicas_per_node} if settings.max_replicas_per_node else {}
