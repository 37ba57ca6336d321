"""The conformance harness: verify servers, judge clients, proxy, report.

From Python: `harness.verify(...)` returns a VerifiedReport, a RunReport that writes itself (see harness/api.py); a setup that
cannot be verified raises `harness.ConfigurationError`, a crashed probe `harness.IncompleteRunError`.
Imported on first use, so `import inpaint_conformance.harness` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "verify": "inpaint_conformance.harness.api",
    "VerifyOptions": "inpaint_conformance.harness.api",
    "IncompleteRunError": "inpaint_conformance.harness.api",
    "ConfigurationError": "inpaint_conformance.harness.target",
    "RunReport": "inpaint_conformance.harness.results",
    "ClauseResult": "inpaint_conformance.harness.results",
    "load_json": "inpaint_conformance.harness.reports",
}

__all__ = [
    "ClauseResult",
    "ConfigurationError",
    "IncompleteRunError",
    "RunReport",
    "VerifyOptions",
    "load_json",
    "verify",
]

if TYPE_CHECKING:
    from .api import IncompleteRunError, VerifyOptions, verify
    from .reports import load_json
    from .results import ClauseResult, RunReport
    from .target import ConfigurationError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inpaint_conformance.harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
