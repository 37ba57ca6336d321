"""A fake of both inpaint providers: one handler, a server door and in-process mocks."""

from .control import FakeControl
from .engine import Engine, FakeEngine, InpaintJob
from .faults import DEVIATIONS, TRANSPORT_FAULTS, Fault, FaultBook
from .journal import Journal
from .ledger import DEFAULT_CREDITS, MemoryLedger, SqliteLedger
from .mocks import mock_providers
from .provider import Answer, FakeProvider
from .store import StateStore, open_store
from .testing import TEST_KEY, InpaintFake

__all__ = [
    "Answer",
    "DEFAULT_CREDITS",
    "FakeControl",
    "InpaintFake",
    "TEST_KEY",
    "mock_providers",
    "DEVIATIONS",
    "Engine",
    "FakeEngine",
    "FakeProvider",
    "Fault",
    "FaultBook",
    "InpaintJob",
    "Journal",
    "MemoryLedger",
    "SqliteLedger",
    "StateStore",
    "open_store",
    "TRANSPORT_FAULTS",
]
