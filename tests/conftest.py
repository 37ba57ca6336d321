"""Shared test fixtures: a live fake server on loopback, and small images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving


def pytest_configure(config):
    # Installed, the pytest11 entry point `inpaint_fakes` registers the fake's fixtures;
    # from a source checkout they are loaded here (both ways at once is refused by pytest).
    if not config.pluginmanager.has_plugin("inpaint_fakes"):
        config.pluginmanager.import_plugin("inpaint_conformance.fakes.pytest_plugin")


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL for the session (fakes.throwaway_postgres); skips where none can run."""
    from inpaint_conformance.fakes.throwaway_postgres import ThrowawayPostgres, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"needs a throwaway PostgreSQL server: {reason}")
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a new, empty database on the session's throwaway PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request, tmp_path) -> str:
    """`--db` for a store shared between processes: a SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def provider() -> FakeProvider:
    fake = FakeProvider()
    fake.add_key("test-key", 6000)
    return fake


@pytest.fixture
def live_fake(provider):
    """The fake on a real loopback socket; yields (base_url, provider)."""
    with serving(create_app(provider)) as server:
        yield server.url, provider


def png_bytes(size=(96, 64), mode="RGB", color=(40, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color if mode != "L" else 0).save(buffer, "PNG")
    return buffer.getvalue()
