"""The start-up banners of `inpaint-conformance serve`: what answers, where, and how to try it.

`banner` is for a provider that paints (the fake engine or the reference engine);
`replay_banner` for `serve --replay`, which paints nothing and checks no key.
Both end with "Ctrl-C stops the server." once the socket listens.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import AUTH_HEADER, PATHS

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def display_base_url(host: str, port: int) -> str:
    """The base URL a user on this machine types: a wildcard bind is shown as loopback."""
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # IPv6 literal
    return f"http://{shown}:{port}"


def _endpoints(base_url: str) -> list[str]:
    ait, vyro = base_url + PATHS[Api.AITHRIVING], base_url + PATHS[Api.VYRO]
    return [
        f"  AIThriving  POST {ait}   (key in header `{AUTH_HEADER[Api.AITHRIVING]}`)",
        f"  Vyro        POST {vyro}   (key in header `{AUTH_HEADER[Api.VYRO]}`)",
    ]


def banner(
    *,
    base_url: str,
    title: str,
    keys: Mapping[str, str],
    other_keys: int,
    ledger: str,
    admin: str,
    example_key: str | None = None,
) -> str:
    """Lines for stderr. ``title``: what serves (e.g. "fake provider ready (engine: fake)").
    ``keys``: the keys as they may be shown (in full, or their hint), each with a note on its
    balance. ``example_key``: what the curl lines send (default: the first key)."""
    ait = base_url + PATHS[Api.AITHRIVING]
    key_lines = [f"    {key}: {note}" for key, note in keys.items()]
    if other_keys:
        key_lines.append(f"    (+{other_keys} more stored in the ledger)")
    first_key = example_key or next(iter(keys), "YOUR-KEY")
    curl = " ".join(
        [
            "curl -s",
            shlex.quote(ait),
            "-H",
            shlex.quote(f"{AUTH_HEADER[Api.AITHRIVING]}: {first_key}"),
            "-F image=@your-image.png -F mask=@your-mask.png",
            "-F",
            shlex.quote("prompt=a bowl of fruit"),
        ]
    )
    probe = " ".join(
        [
            "curl -s",
            shlex.quote(base_url + "/__fake__/credits"),
            "-H",
            shlex.quote(f"{AUTH_HEADER[Api.AITHRIVING]}: {first_key}"),
        ]
    )
    return "\n".join(
        [
            f"inpaint-conformance {title}",
            *_endpoints(base_url),
            f"  credits     GET  {base_url}/__fake__/credits",
            f"  admin       {base_url}/__fake__/ (keys, journal, faults, reset): {admin}",
            f"  ledger      {ledger}",
            "  keys",
            *key_lines,
            "  try it",
            f"    {curl}",
            f"    {probe}",
            "  Ctrl-C stops the server.",
        ]
    )


def replay_banner(*, base_url: str, source: str, replays: str, matching: str, admin: str) -> str:
    """Lines for stderr when `serve --replay` answers from a recording.

    ``replays``: what the recording holds (how many exchanges, per API); ``matching``:
    which recorded answer a request gets (ReplayProvider.matching_rule()).
    """
    return "\n".join(
        [
            f"inpaint-conformance replay ready: answers recorded in {source}, no engine paints",
            *_endpoints(base_url),
            f"  replays     {replays}",
            f"  matching    {matching}",
            "  keys        not checked, nothing charged: every answer is the recorded one",
            f"  journal     {base_url}/__fake__/ (each replayed request, with the client's verdict): {admin}",
            "  Ctrl-C stops the server.",
        ]
    )
