"""Every probe `verify` runs, listed in one place: the probe modules, in run order."""

from __future__ import annotations

from inpaint_conformance.contracts import Api

from . import probes_aithriving, probes_credits, probes_robust, probes_shapes, probes_vyro, properties
from .probes import ProbeDef, definitions_in

# probes_credits last: it sets the embedded fake's balances, then restores them.
PROBE_MODULES = (probes_aithriving, probes_vyro, probes_shapes, probes_robust, properties, probes_credits)


def probes_for(api: Api) -> list[ProbeDef]:
    return [d for module in PROBE_MODULES for d in definitions_in(module) if d.api is api]


def planned_successes(api: Api, examples: int) -> int:
    return sum(p.planned_successes(examples) for p in probes_for(api))
