"""pytest fixtures for code that calls the AIThriving or Vyro inpaint APIs.

Registered as the `pytest11` entry point `inpaint_fakes`, so installing the package
makes them available; in this repository's own tests load it with
`-p inpaint_conformance.fakes.pytest_plugin` or `pytest_plugins = ["inpaint_conformance.fakes.pytest_plugin"]`.

    def test_my_client(inpaint_fake):
        result = my_client.inpaint("https://www.aithriving.com", key=inpaint_fake.key, ...)
        assert inpaint_fake.balance() == 6000 - 6
        inpaint_fake.assert_client_conformant()

Imports are deferred to the fixtures, so projects that never use them pay nothing
at pytest start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import InpaintFake, LiveInpaintFake


@pytest.fixture
def inpaint_fake() -> Iterator[InpaintFake]:
    """A fake AIThriving + Vyro provider answering in-process, for this test only.

    httpx (through respx) and requests (through responses) calls to
    https://www.aithriving.com and https://api.vyro.ai are answered by the fake, so
    the code under test needs no URL change and no network; loopback passes
    through, other hosts fail. One key, `inpaint_fake.key` (TEST_KEY, "test-key"),
    holds 6000 credits. Helpers: `.set_credits(key, n)`, `.balance(key=None)`,
    `.journal(api=None)`, `.assert_client_conformant(level="MUST")`,
    `.inject(kind, api=, key=, count=, probability=, seed=, seconds=)` (a transport
    fault such as "timeout" fires once unless `count` says otherwise, `count=None`
    until cleared; a deviation stays until cleared), `.clear_faults()`,
    `.reset(balances=False)`; `.provider` is the FakeProvider. Outside pytest,
    `with inpaint_conformance.mock_providers() as fake:` gives the same object.
    """
    from .mocks import mock_providers

    with mock_providers() as fake:
        yield fake


@pytest.fixture
def inpaint_server() -> Iterator[LiveInpaintFake]:
    """The fake provider on a real loopback socket (a thread of this process), for this test only.

    `.url` is its base URL (both APIs' paths hang off it), `.ait_url` and
    `.vyro_url` the two endpoints, `.credits_url` the balance probe; the same
    helpers as `inpaint_fake`, and key "test-key" with 6000 credits.
    """
    from .app import create_app
    from .server import serving
    from .testing import LiveInpaintFake, default_provider

    provider = default_provider()
    with serving(create_app(provider)) as server:
        yield LiveInpaintFake(provider, server.url)
