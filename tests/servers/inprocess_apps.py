"""Module-level applications for `verify --app tests.servers.inprocess_apps:NAME` (tests/test_verify_app.py).

Built from tests/servers/fastapi_server.py, which imports nothing of this project, with the
keys of tests/servers/hosting.py. `app` is the correct server, `seed_mutant` the same with one
MUST bug, `started_later` serves only once its ASGI lifespan startup ran (as an app that opens
a database pool there does), `not_found_wsgi` a WSGI app without the endpoints.
"""

from __future__ import annotations

from .fastapi_server import create_app
from .hosting import KEYS

SEED_MUTANT = "seed_range_off_by_one"  # breaks ait.seed.range, a MUST

app = create_app(KEYS)
seed_mutant = create_app(KEYS)
seed_mutant.state.reset(SEED_MUTANT)


class StartedLater:
    """A raw ASGI app whose routes exist only after `lifespan.startup` (before it: an exception, a 500)."""

    def __init__(self) -> None:
        self.inner = None
        self.shut_down = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.inner = create_app(KEYS)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    self.shut_down = True
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if self.inner is None:
            raise RuntimeError("the application was not started: its lifespan startup never ran")
        await self.inner(scope, receive, send)


started_later = StartedLater()


def not_found_wsgi(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"nothing here"]


def create_something(config):  # a factory, not an application: `--app` must say so
    return app


ready = "not an application"  # `--app` must refuse it by name
