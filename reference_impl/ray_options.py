"""Serve deployment options of the two deployments, from the settings (no Ray import).

`serve --ray` deploys with these and `ray-config` writes them into the YAML, so a
config file and a command line with the same settings deploy the same thing.
"""

from __future__ import annotations

from typing import Any

from .ray_settings import RaySettings

# Read by the ingress when no admin token is in the settings, so a Serve config need not hold it.
ADMIN_TOKEN_ENV = "INPAINT_CONFORMANCE_ADMIN_TOKEN"
INGRESS_MAX_ONGOING = 1000  # the ingress only waits on replicas; the engine bounds the real work
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
    return options


def ingress_options(settings: RaySettings) -> dict[str, Any]:
    """One ingress replica: the ledger (memory, or SQLite on its node) and the journal live there."""
    return {
        "num_replicas": 1,
        "max_ongoing_requests": INGRESS_MAX_ONGOING,
        "ray_actor_options": {"num_cpus": settings.ingress_cpus},
    }
