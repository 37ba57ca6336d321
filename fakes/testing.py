"""What a test holds: a fake's controls plus test-shaped helpers.

The `inpaint_fake` fixture and `with mock_providers() as fake:` give the same
object, an `InpaintFake`; the `inpaint_server` fixture a `LiveInpaintFake`.
"""

from __future__ import annotations

from inpaint_conformance.contracts import Api, Level
from inpaint_conformance.contracts.rules import PATHS, PROVIDER_ORIGINS

from .control import FakeControl
from .ledger import DEFAULT_CREDITS
from .provider import FakeProvider

# The key a fresh test fake holds, with DEFAULT_CREDITS credits: not a secret.
TEST_KEY = "test-key"


def default_provider() -> FakeProvider:
    """A fresh fake with one key, ``TEST_KEY`` ("test-key"), holding ``DEFAULT_CREDITS`` (6000)."""
    # No journal thumbnails: nobody watches an in-process mock's dashboard, and they
    # cost more than the rest of a small call (bench/mock.py).
    provider = FakeProvider(thumbnails=False)
    provider.add_key(TEST_KEY, DEFAULT_CREDITS)
    return provider


class InpaintFake(FakeControl):
    """A fake provider under a test's control (`inpaint_fake`, `mock_providers()`).

    ``key`` is the key to call with (default ``TEST_KEY``, "test-key", holding 6000
    credits); ``balance()`` reads it. ``ait_url`` / ``vyro_url`` are the endpoints
    the client under test should call: for the in-process mocks the real provider
    URLs, for a live server its own. ``provider`` is the FakeProvider underneath;
    ``inject``, ``journal``, ``set_credits``, ``reset``... come from FakeControl.
    """

    DEFAULT_KEY = TEST_KEY

    def __init__(self, provider: FakeProvider, key: str = TEST_KEY, base_urls: dict[Api, str] | None = None) -> None:
        super().__init__(provider)
        self.key = key
        origins = base_urls or PROVIDER_ORIGINS
        self.ait_url = origins[Api.AITHRIVING] + PATHS[Api.AITHRIVING]
        self.vyro_url = origins[Api.VYRO] + PATHS[Api.VYRO]

    def balance(self, key: str | None = None) -> int | None:
        """The balance of ``key`` (default: the fixture's key)."""
        return self.credits(key or self.key)

    def assert_client_conformant(self, level: Level | str = Level.MUST, *, allow_empty: bool = False) -> None:
        """Fail, listing each clause and request, if a journalled request broke a clause at ``level`` or stricter.

        The default judges MUST clauses; ``level="SHOULD"`` also judges SHOULD ones. An empty
        journal fails too (a client that sent nothing, or sent it elsewhere, proves nothing)
        unless ``allow_empty=True``.
        """
        if not allow_empty and not self.journal():
            raise AssertionError(
                "no request reached the fake, so nothing shows the client conforms: did it call "
                f"{self.ait_url} or {self.vyro_url}? (pass allow_empty=True if sending nothing is the point)"
            )
        broken = self.client_violations(Level(level))
        if broken:
            requests = len(self.journal())
            lines = "\n  ".join(broken)
            raise AssertionError(
                f"the client broke {len(broken)} clause(s) over {requests} journalled request(s):\n  {lines}"
            )


class LiveInpaintFake(InpaintFake):
    """A fake on a real loopback socket (the `inpaint_server` fixture); ``url`` is its base URL."""

    def __init__(self, provider: FakeProvider, url: str, key: str = TEST_KEY) -> None:
        self.url = url.rstrip("/")
        super().__init__(provider, key, {Api.AITHRIVING: self.url, Api.VYRO: self.url})
        self.credits_url = f"{self.url}/__fake__/credits"
