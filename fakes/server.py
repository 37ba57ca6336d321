"""Running the fake's app on a real socket, in this process, for tests and the harness."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from .logging_setup import configure_logging


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ThreadedServer:
    """uvicorn in a background thread; `url` is ready once `start()` returns."""

    def __init__(
        self, app, host: str = "127.0.0.1", port: int | None = None, config: uvicorn.Config | None = None
    ) -> None:
        """``config``: a ready uvicorn.Config (its host and port win), for servers set up their own way."""
        configure_logging()
        if config is not None:
            host, port = config.host, config.port or free_port(config.host)
            config.port = port
        self.host, self.port = host, port or free_port(host)
        config = config or uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"fake-server-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake server did not start on {self.url} within {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def serving(
    app, host: str = "127.0.0.1", port: int | None = None, config: uvicorn.Config | None = None
) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, host, port, config).start()
    try:
        yield server
    finally:
        server.stop()
