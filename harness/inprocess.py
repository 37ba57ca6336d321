"""`verify --app module:attr`: an ASGI or WSGI application verified in this process, without a port.

The app is imported the way uvicorn imports one (`--app-dir`, default the current
directory, goes first on sys.path) and reached through httpx's own transports:
httpx.WSGITransport for a WSGI app (Flask, Django...), httpx.ASGITransport for an ASGI
one (FastAPI, Starlette, Litestar...). verify's client is synchronous and
ASGITransport is not, so an ASGI app runs on one event loop in a thread of its own
(an anyio blocking portal) for the whole run; its lifespan runs there too, as a
server would run it: startup before the first request, shutdown at the end, and the
lifespan state handed to each request. An exception the app lets escape becomes a
500, as a server would answer it, so in-process verdicts are those over HTTP.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.from_thread
import httpx

from inpaint_conformance.contracts import Api

from .target import RemoteTarget, TargetError

AppKind = Literal["ASGI", "WSGI"]
# The origin requests carry in-process: a host every framework's default allowed-hosts accepts.
APP_ORIGIN = "http://localhost"
# Where a user replays a failure: the app served on uvicorn's (and flask's) usual loopback port.
SERVED_ORIGIN = "http://127.0.0.1:8000"
STARTUP_TIMEOUT_S = 30.0  # an app whose startup takes longer is stuck, not slow
SHUTDOWN_TIMEOUT_S = 5.0
_SERVER_ERROR = b"Internal Server Error"


def load_app(spec: str, app_dir: str | Path = ".") -> Any:
    """The object `module:attr` names, imported with ``app_dir`` first on sys.path."""
    module_name, _, attr = spec.partition(":")
    if (
        not module_name
        or not attr
        or not all(part.isidentifier() for part in (*module_name.split("."), *attr.split(".")))
    ):
        raise TargetError(f"--app must be module:attribute, like mypackage.main:app, got {spec!r}")
    directory = Path(app_dir).resolve()
    if not directory.is_dir():
        raise TargetError(f"--app-dir {app_dir} is not a directory: pass the directory that holds {module_name}")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise TargetError(
                f"--app {spec}: no module {exc.name} in {directory}: run from the directory that holds it, "
                "or pass --app-dir DIR"
            ) from None
        raise TargetError(
            f"--app {spec}: importing {module_name} failed: no module named {exc.name}, which it imports: "
            "install it in this environment"
        ) from None
    except Exception as exc:
        raise TargetError(
            f"--app {spec}: importing {module_name} raised {type(exc).__name__}: {_one_line(exc)}: "
            "fix the module so that it imports"
        ) from None
    value: Any = module
    for name in attr.split("."):
        if not hasattr(value, name):
            found = ", ".join(sorted(n for n, v in vars(module).items() if _looks_like_an_app(v))) or "none"
            raise TargetError(
                f"--app {spec}: module {module_name} has no attribute {attr!r} (applications in it: {found}): "
                f"pass --app {module_name}:NAME"
            )
        value = getattr(value, name)
    return value


def app_kind(app: Any, shown: str) -> AppKind:
    """ASGI (``async (scope, receive, send)``) or WSGI (``(environ, start_response)``); else TargetError."""
    if isinstance(app, type):
        raise TargetError(f"--app {shown} is a class, not an application: pass an instance (app = {app.__name__}())")
    if not callable(app):
        raise TargetError(
            f"--app {shown} is a {type(app).__name__}, not an ASGI or WSGI application: "
            "name the application object (e.g. app = FastAPI() or app = Flask(__name__))"
        )
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    try:
        parameters = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        parameters = []
    if inspect.iscoroutinefunction(call) or len(parameters) == 3:
        return "ASGI"
    if len(parameters) == 2:
        return "WSGI"
    raise TargetError(
        f"--app {shown} takes {len(parameters)} argument(s), so it is neither an ASGI application "
        "(scope, receive, send) nor a WSGI one (environ, start_response); if it is a factory, "
        "create the application at module level (app = create_app(...)) and pass that"
    )


def _looks_like_an_app(value: Any) -> bool:
    try:
        app_kind(value, "")
    except TargetError:
        return False
    return not inspect.isfunction(value) and not inspect.ismodule(value)


class InProcessApp:
    """An application and the httpx transport that reaches it; `close()` ends it (lifespan shutdown)."""

    def __init__(self, app: Any, kind: AppKind) -> None:
        self.kind = kind
        self.transport: httpx.BaseTransport = (
            _AsgiBridge(app) if kind == "ASGI" else _WsgiBridge(httpx.WSGITransport(app, raise_app_exceptions=False))
        )

    def close(self) -> None:
        if isinstance(self.transport, _AsgiBridge):
            self.transport.shut_down()


class _WsgiBridge(httpx.BaseTransport):
    """WSGITransport with a server's manners: an escaping exception is a 500, a hang a read timeout.

    Each request runs in a thread of its own so that a read timeout can be kept; a thread the
    app never returns from is left behind (daemon), as a server would leave its worker.
    """

    def __init__(self, wsgi: httpx.WSGITransport) -> None:
        self._wsgi = wsgi

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outcome: dict[str, Any] = {}

        def answer() -> None:
            try:
                response = self._wsgi.handle_request(request)
                outcome["response"] = httpx.Response(
                    response.status_code, headers=response.headers.multi_items(), content=b"".join(response.iter_raw())
                )
            except Exception:  # the app's own bug: what a WSGI server answers
                outcome["response"] = httpx.Response(500, content=_SERVER_ERROR)

        worker = threading.Thread(target=answer, daemon=True, name="inpaint-conformance-wsgi")
        worker.start()
        worker.join(_read_timeout(request))
        if "response" not in outcome:
            raise httpx.ReadTimeout("the application did not answer in time", request=request)
        return outcome["response"]


class _AsgiBridge(httpx.BaseTransport):
    """httpx.ASGITransport driven from synchronous code, on one event loop that also runs the lifespan."""

    def __init__(self, app: Any) -> None:
        self._portal_context = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_context.__enter__()
        self._lifespan = _Lifespan(app)
        try:
            self._portal.call(self._lifespan.prepare)
            self._portal.start_task_soon(self._lifespan.run)
            self._portal.call(self._lifespan.started)
        except BaseException:
            self._stop()
            raise
        self._asgi = httpx.ASGITransport(app=self._lifespan.with_state, raise_app_exceptions=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a byte stream, readable from the loop's side too
        return self._portal.call(self._answer, request)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        timeout = _read_timeout(request)
        try:
            with anyio.fail_after(timeout):
                response = await self._asgi.handle_async_request(request)
                # Raw bytes: the headers still say how they are encoded, the client decodes once.
                content = b"".join([chunk async for chunk in response.aiter_raw()])
        except TimeoutError:
            raise httpx.ReadTimeout(f"the application did not answer within {timeout:g} s", request=request) from None
        except httpx.HTTPError:
            raise
        except Exception:  # escaped ASGITransport's own handling: still the app's bug, still a 500
            return httpx.Response(500, content=_SERVER_ERROR)
        return httpx.Response(response.status_code, headers=response.headers.multi_items(), content=content)

    def close(self) -> None:
        """Kept open: verify's client is remade after a 5xx, the app lives until `shut_down`."""

    def shut_down(self) -> None:
        with contextlib.suppress(Exception):
            self._portal.call(self._lifespan.shut_down)
        self._stop()

    def _stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._portal.call(self._portal.stop, True)  # cancels a lifespan that ignored the shutdown
        self._portal_context.__exit__(None, None, None)


class _Lifespan:
    """The ASGI lifespan protocol, run as uvicorn's `--lifespan auto` runs it.

    An app that raises or returns before answering the startup does not speak the protocol
    and is served without it; one that answers `lifespan.startup.failed` cannot be verified.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.failure: str | None = None

    async def prepare(self) -> None:
        self._startup_answered = anyio.Event()
        self._shutdown_asked = anyio.Event()
        self._finished = anyio.Event()
        self._messages = ["lifespan.startup"]

    async def run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception:
            pass  # before the startup answer: no lifespan support; after it, a server only logs it
        finally:
            self._startup_answered.set()
            self._finished.set()

    async def started(self) -> None:
        with anyio.move_on_after(STARTUP_TIMEOUT_S) as waited:
            await self._startup_answered.wait()
        if waited.cancelled_caught:
            raise TargetError(
                f"the application's lifespan startup did not finish in {STARTUP_TIMEOUT_S:g} s: "
                "check what it waits for (a database, a model download...)"
            )
        if self.failure is not None:
            raise TargetError(f"the application's lifespan startup failed: {self.failure}: fix its startup")

    async def shut_down(self) -> None:
        self._shutdown_asked.set()
        with anyio.move_on_after(SHUTDOWN_TIMEOUT_S):
            await self._finished.wait()

    async def with_state(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        """The app, each request given a copy of the lifespan state (as uvicorn does; ASGITransport does not)."""
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(self.state)}
        await self.app(scope, receive, send)

    async def _receive(self) -> dict:
        if self._messages:
            return {"type": self._messages.pop(0)}
        await self._shutdown_asked.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.failed":
            self.failure = str(message.get("message") or "no message")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            self._startup_answered.set()


class AppTarget(RemoteTarget):
    """An application of this process (`--app`), verified like a server at --base-url, without a port."""

    in_process = True

    def __init__(
        self,
        app: Any,
        keys: dict[Api, dict[str, str | None]],
        *,
        credits_url: str | None,
        timeout: float,
        app_dir: str | Path = ".",
    ) -> None:
        shown = app if isinstance(app, str) else f"{type(app).__module__}.{type(app).__qualname__} object"
        if isinstance(app, str):
            app = load_app(app, app_dir)
        if credits_url is not None and not credits_url.startswith("/"):
            raise TargetError(
                f"--credits-url with --app is a path on the same application, like /credits, got {credits_url!r}"
            )
        kind = app_kind(app, shown)
        self.app = InProcessApp(app, kind)
        try:
            super().__init__(
                APP_ORIGIN,
                keys,
                credits_url=APP_ORIGIN + credits_url if credits_url else None,
                timeout=timeout,
                transport=self.app.transport,
            )
        except BaseException:
            self.app.close()
            raise
        self.description = f"{shown} ({kind} application, in-process)"
        self.reproduce_origin = SERVED_ORIGIN
        server = f"uvicorn {shown} --port 8000" if kind == "ASGI" else f"gunicorn -b 127.0.0.1:8000 {shown}"
        self.replay_note = f"serve the application at {SERVED_ORIGIN} first (e.g. `{server}`)"
        self.where_hint = f"is --app {shown} the application that serves the inpaint endpoints, at its root?"

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.app.close()


def _read_timeout(request: httpx.Request) -> float | None:
    return (request.extensions.get("timeout") or {}).get("read")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


__all__ = ["AppKind", "AppTarget", "InProcessApp", "app_kind", "load_app"]
