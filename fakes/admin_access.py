"""Who may call the fake's admin routes (/__fake__/ except the credits probe).

A fake bound to loopback is reachable by every web page its user visits: a page can
POST to http://127.0.0.1:PORT (CSRF) or rebind its own DNS name to 127.0.0.1 (DNS
rebinding). So besides "loopback, or the --admin-token", an admin call must

- name the fake by a loopback name or the address it is bound to in `Host` (a rebound
  page sends its own name);
- come from no other web origin: a browser sends `Origin` with every cross-origin
  write; the dashboard's own calls are same-origin, scripts and curl send none;
- carry JSON when it writes (`Content-Type: application/json`): a page cannot send that
  cross-origin without a CORS preflight, which the fake never grants.

A request with the right `x-admin-token` passes: no page can send a header it does not know.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from inpaint_conformance.contracts.rules import FAKE_PREFIX

ADMIN_HEADER = "x-admin-token"
LOOPBACK_NAMES = ("localhost",)
_WRITES = ("POST", "PUT", "PATCH")


def check_admin_call(request: Request, *, admin_token: str | None, loopback_only: bool) -> None:
    """Raise HTTPException (403 or 415) unless this request may call an admin route."""
    sent = request.headers.get(ADMIN_HEADER)
    if admin_token and sent and secrets.compare_digest(sent.encode(), admin_token.encode()):
        return
    if admin_token and (sent or not loopback_only):
        raise HTTPException(403, f"admin calls need the admin token: send it in the `{ADMIN_HEADER}` header")
    if not loopback_only:
        raise HTTPException(
            403,
            "admin calls are refused: the server is not bound to a loopback address; "
            f"restart it with --admin-token TOKEN and send TOKEN in the `{ADMIN_HEADER}` header",
        )
    host = _host_name(request.headers.get("host", ""))
    if not _local_name(host, request):
        raise HTTPException(
            403,
            f"admin calls must name the fake by a loopback address (127.0.0.1, localhost, [::1]); Host {host!r} "
            "is refused (a web page that rebinds its DNS name to this machine sends its own name)",
        )
    origin = request.headers.get("origin")
    if origin is not None and not _same_origin(origin, request):
        raise HTTPException(
            403,
            f"admin calls from a web page of another origin ({origin}) are refused; use the dashboard at "
            f"{FAKE_PREFIX}/ or call from a script (it sends no Origin)",
        )
    if request.method in _WRITES and not _json_or_empty(request):
        shown = request.headers.get("content-type") or "no Content-Type"
        raise HTTPException(415, f"admin calls take JSON: send Content-Type: application/json (got {shown})")


def _host_name(host: str) -> str:
    """The name in a Host header, without its port (IPv6 literals without brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _local_name(host: str, request: Request) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    server = request.scope.get("server")
    if server and host == str(server[0]).lower():  # the address the connection came in on
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_origin(origin: str, request: Request) -> bool:
    """Whether Origin names this server as the request reached it (scheme, host and port)."""
    try:
        parsed = urlsplit(origin)
        port = parsed.port
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False  # "null" (a sandboxed frame, a file: page) included
    wanted = urlsplit(f"{request.url.scheme}://{request.headers.get('host', '')}")
    default = {"http": 80, "https": 443}
    try:
        wanted_port = wanted.port or default[wanted.scheme]
    except (ValueError, KeyError):
        return False
    return (parsed.scheme, parsed.hostname, port or default[parsed.scheme]) == (
        wanted.scheme,
        wanted.hostname,
        wanted_port,
    )


def _json_or_empty(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return True
    # `curl -X POST .../reset` sends no body and no type; no browser form can send that.
    return (
        not media and request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers
    )
