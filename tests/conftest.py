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
