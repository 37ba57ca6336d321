"""What a Ray Serve deployment of the reference implementation is made of, as plain data.

One `RaySettings` drives the three ways in: `serve --ray` (deployed from this process),
`ray-config` (a Serve config YAML for `serve deploy`) and the tests. It travels to the
replicas as the application builder's `args`, so every field is JSON-friendly.
This module imports neither Ray nor torch: the CLI validates arguments without them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from inpaint_conformance.fakes.sql_database import is_postgres_url

APP_NAME = "inpaint"
ENGINE_DEPLOYMENT = "InpaintEngine"
INGRESS_DEPLOYMENT = "InpaintIngress"
FRONT_DEPLOYMENT = "InpaintFront"
ENGINES = ("reference", "fake")


class SettingsError(ValueError):
    """A setting a user gave is out of range; the message names it and the fix."""


@dataclass
class RaySettings:
    # -- the engine replicas ---------------------------------------------------------
    engine: str = "reference"  # "reference" (diffusers) or "fake" (the fake's fill: Ray plumbing only)
    model: str = "tiny-random"
    device: str = "auto"
    dtype: str | None = None
    steps: int | None = None
    compile: bool = False
    max_batch: int = 4
    batch_wait_s: float = 0.05  # how long a replica waits for batch mates once it has a request
    replicas: int = 1
    autoscale: tuple[int, int] | None = None  # (min, max) replicas; replaces `replicas`
    gpus_per_replica: float | None = None  # None: 1 where the cluster has GPUs, else 0
    cpus_per_replica: float | None = None  # None: 1, or less where that would not fit a local machine
    max_replicas_per_node: int | None = None  # a hard cap per node for both deployments (None: Serve spreads)
    # -- the ingress (HTTP layer: validation, ledger, journal, faults) ----------------
    ingress_replicas: int = 1  # more than 1 needs a store they all reach: db = postgresql://...
    ingress_cpus: float = 0.25
    api_keys: list[tuple[str, int | None]] = field(default_factory=list)
    db: str | None = None
    ait_failure_status: int = 200
    admin_token: str | None = None
    loopback_only: bool = False  # the proxy listens on loopback only: /__fake__/ admin calls need no token
    engine_timeout_s: float = 600.0  # an answer slower than this is a 500, never a hang
    run: str | None = None  # a server run id: the first replica to see a new one clears journal and faults

    def __post_init__(self) -> None:
        if self.autoscale is not None:
            self.autoscale = (int(self.autoscale[0]), int(self.autoscale[1]))
        self.api_keys = [(str(k), None if c is None else int(c)) for k, c in self.api_keys]
        self.validate()

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise SettingsError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not self.model:
            raise SettingsError("model is empty: give a folder, a hub id, tiny-random or sd15-random")
        if self.max_batch < 1:
            raise SettingsError(f"max batch must be >= 1, got {self.max_batch}")
        if self.steps is not None and self.steps < 1:
            raise SettingsError(f"steps must be >= 1, got {self.steps}")
        if self.replicas < 1:
            raise SettingsError(f"replicas must be >= 1, got {self.replicas}")
        if self.ingress_replicas < 1:
            raise SettingsError(f"ingress replicas must be >= 1, got {self.ingress_replicas}")
        if self.ingress_replicas > 1 and not is_postgres_url(self.db):
            raise SettingsError(
                f"{self.ingress_replicas} ingress replicas need a store they all share: give --db postgresql://... "
                "(a SQLite file or the in-memory ledger lives with one replica, on one node)"
            )
        if self.max_replicas_per_node is not None and self.max_replicas_per_node < 1:
            raise SettingsError(f"max replicas per node must be >= 1, got {self.max_replicas_per_node}")
        if self.autoscale is not None:
            low, high = self.autoscale
            if low < 0 or high < 1 or low > high:
                raise SettingsError(f"autoscale MIN:MAX needs 0 <= MIN <= MAX and MAX >= 1, got {low}:{high}")
        if self.gpus_per_replica is not None and self.gpus_per_replica < 0:
            raise SettingsError(f"GPUs per replica must be >= 0, got {self.gpus_per_replica}")
        if (self.cpus_per_replica is not None and self.cpus_per_replica <= 0) or self.ingress_cpus < 0:
            raise SettingsError("CPUs per replica must be > 0 and ingress CPUs >= 0")
        if self.batch_wait_s < 0 or self.engine_timeout_s <= 0:
            raise SettingsError("batch wait must be >= 0 s and the engine timeout > 0 s")

    @property
    def most_replicas(self) -> int:
        return self.autoscale[1] if self.autoscale else self.replicas

    @property
    def first_replicas(self) -> int:
        """Replicas that must fit at deploy time (autoscaling starts at MIN, at least 1)."""
        return max(self.autoscale[0], 1) if self.autoscale else self.replicas

    def replace(self, **changes) -> RaySettings:
        return RaySettings.from_args({**self.to_args(), **changes})

    def to_args(self) -> dict:
        """The builder's `args`: JSON/YAML-safe (tuples become lists)."""
        data = asdict(self)
        data["autoscale"] = list(self.autoscale) if self.autoscale else None
        data["api_keys"] = [list(pair) for pair in self.api_keys]
        return data

    @classmethod
    def from_args(cls, args: dict | None) -> RaySettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(args or {}) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**(args or {}))


def parse_autoscale(text: str | None) -> tuple[int, int] | None:
    """`MIN:MAX` (e.g. 1:4) into a pair; a clear error for anything else."""
    if text is None:
        return None
    low, sep, high = text.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise SettingsError(f"--autoscale expects MIN:MAX with whole numbers, e.g. 1:4; got {text!r}")
    return int(low), int(high)


def is_loopback(host: str) -> bool:
    """True when only this machine can reach an address bound to ``host``."""
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
