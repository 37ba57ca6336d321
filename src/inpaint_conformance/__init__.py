"""inpaint-conformance: executable contracts, fakes and a conformance harness for the
AIThriving and Vyro Imagine inpaint APIs.

The four parts are subpackages: `inpaint_conformance.contracts` (the clause catalog and
validators, the single source of truth), `.fakes` (the fake provider, mocks, fixtures),
`.harness` (verify, check-client, proxy, reports) and `.reference_impl` (diffusers).
The names below are the small public surface; each is imported on first use, so
`import inpaint_conformance` costs nothing until one is touched.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("inpaint-conformance")
except metadata.PackageNotFoundError:  # a checkout that is not installed
    __version__ = "0+unknown"

# public name -> the module that defines it
_EXPORTS = {
    "Api": "inpaint_conformance.contracts",
    "Level": "inpaint_conformance.contracts",
    "Clause": "inpaint_conformance.contracts",
    "CATALOG": "inpaint_conformance.contracts",
    "clause": "inpaint_conformance.contracts",
    "clauses": "inpaint_conformance.contracts",
    "HttpRequest": "inpaint_conformance.contracts",
    "HttpResponse": "inpaint_conformance.contracts",
    "validate_request": "inpaint_conformance.contracts",
    "validate_response": "inpaint_conformance.contracts",
    "FakeProvider": "inpaint_conformance.fakes",
    "mock_providers": "inpaint_conformance.fakes",
    "InpaintFake": "inpaint_conformance.fakes",
    "TEST_KEY": "inpaint_conformance.fakes",
}

__all__ = [
    "CATALOG",
    "Api",
    "Clause",
    "FakeProvider",
    "HttpRequest",
    "HttpResponse",
    "InpaintFake",
    "Level",
    "TEST_KEY",
    "__version__",
    "clause",
    "clauses",
    "mock_providers",
    "validate_request",
    "validate_response",
]

if TYPE_CHECKING:
    from inpaint_conformance.contracts import (
        CATALOG,
        Api,
        Clause,
        HttpRequest,
        HttpResponse,
        Level,
        clause,
        clauses,
        validate_request,
        validate_response,
    )
    from inpaint_conformance.fakes import TEST_KEY, FakeProvider, InpaintFake, mock_providers


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inpaint_conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
