"""What a probe is: a named function that sends requests through a ProbeContext and marks clauses.

Probes live in the modules `probe_registry.PROBE_MODULES` lists. `@probe` attaches a
definition to the function and registers nothing: importing a module changes no state.
Each probe declares how many of its requests are expected to succeed, so `verify` can
say what a run costs before it sends anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from inpaint_conformance.contracts import Api

from .probe_context import CreditProbeContext, ProbeContext

# The request model, for probe modules that import it from here.
from .request_spec import FIXED_SEED, PROMPT, RequestSpec, Upload, upload, valid_spec

# A probe sees a ProbeContext; the credit probes see the wider CreditProbeContext. The Runner is both.
ProbeFunction = Callable[[ProbeContext], None] | Callable[[CreditProbeContext], None]
F = TypeVar("F", bound=ProbeFunction)
_DEFINITIONS = "__probe_definitions__"


@dataclass(frozen=True)
class ProbeDef:
    name: str
    api: Api
    run: ProbeFunction
    # Requests expected to succeed: AIThriving charges each one (A17). A callable gets --examples.
    successes: int | Callable[[int], int] = 0

    def planned_successes(self, examples: int) -> int:
        return self.successes(examples) if callable(self.successes) else self.successes


def probe(*apis: Api, successes: int | Callable[[int], int] = 0, name: str | None = None) -> Callable[[F], F]:
    """Mark the decorated function as a probe of each API given (probe_registry collects it)."""

    def mark(function: F) -> F:
        definitions = tuple(ProbeDef(name or function.__name__, api, function, successes) for api in apis)
        setattr(function, _DEFINITIONS, definitions)
        return function

    return mark


def definitions_in(module: ModuleType) -> list[ProbeDef]:
    """The probes a module defines, in the order it defines them (imported ones are not its own)."""
    found: list[ProbeDef] = []
    for value in vars(module).values():
        if callable(value) and getattr(value, "__module__", None) == module.__name__:
            found.extend(getattr(value, _DEFINITIONS, ()))
    return found


__all__ = [
    "FIXED_SEED",
    "PROMPT",
    "ProbeDef",
    "RequestSpec",
    "Upload",
    "definitions_in",
    "probe",
    "upload",
    "valid_spec",
]
