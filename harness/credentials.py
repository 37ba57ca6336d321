"""Who a probe request authenticates as, and how a report shows it without the key.

A role names a key the run was given ("main", "second", "low"), a made-up one ("wrong"),
none at all, the token sent the other way V2 allows ("authorization-bearer"), or a
near miss of the main key (the key with a character added, cut or its letters' case
swapped): a server must refuse those as it refuses any unknown key (A2, V2), and must
not charge the main key for them.

Reproducers never hold a key: each role reads its key from an environment variable
and a near miss is a shell expression of that variable. Redaction (harness/redaction.py)
knows every key and near miss a run sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import AUTH_HEADER


@dataclass(frozen=True)
class NearMiss:
    make: Callable[[str], str]  # the near miss of a key
    shell: str  # the same, as a shell expression of the variable named {var}
    what: str  # how it differs from the key, for a report's message


NEAR_MISSES = {
    "near-miss-suffixed": NearMiss(lambda key: key + "x", "${{{var}}}x", "the key with a character appended"),
    "near-miss-prefixed": NearMiss(lambda key: "x" + key, "x${{{var}}}", "the key with a character prepended"),
    "near-miss-truncated": NearMiss(lambda key: key[:-1], "${{{var}%?}}", "the key without its last character"),
    "near-miss-case": NearMiss(
        str.swapcase, '$(printf %s "${var}" | tr a-zA-Z A-Za-z)', "the key in another letter case"
    ),
}
# Roles that send a key the run was given; the balance of that key is watched around each request.
CHARGED_ROLES = ("main", "second", "low")
AUTH_ROLES = (*CHARGED_ROLES, "none", "wrong", "authorization-bearer", "authorization-bearer-wrong", *NEAR_MISSES)

# The environment variable a reproducer reads each key role from.
KEY_VARIABLES = {
    (Api.AITHRIVING, "main"): "AIT_API_KEY",
    (Api.AITHRIVING, "second"): "AIT_API_KEY_2",
    (Api.AITHRIVING, "low"): "AIT_LOW_CREDIT_KEY",
    (Api.VYRO, "main"): "VYRO_TOKEN",
    (Api.VYRO, "second"): "VYRO_TOKEN_2",
    (Api.VYRO, "low"): "VYRO_LOW_CREDIT_TOKEN",
}


def near_miss(role: str, key: str | None) -> str | None:
    """The near miss of ``key`` for this role; None where it would be no key, or the key itself."""
    if key is None or role not in NEAR_MISSES:
        return None
    missed = NEAR_MISSES[role].make(key)
    return missed if missed.strip() and missed != key else None


def describe_role(role: str) -> str:
    """What a request of this role sends, in words: a refused key's message names it."""
    if role in NEAR_MISSES:
        return NEAR_MISSES[role].what
    return {
        "none": "no credentials",
        "wrong": "a made-up key",
        "authorization-bearer": "the key as `Authorization: Bearer`",
        "authorization-bearer-wrong": "a made-up key as `Authorization: Bearer`",
    }.get(role, f"the {role} key")


def base_role(role: str) -> str | None:
    """The role whose key this role sends ("authorization-bearer" and near misses: main)."""
    if role in CHARGED_ROLES:
        return role
    if role == "authorization-bearer" or role in NEAR_MISSES:
        return "main"
    return None


def auth_header(api: Api, role: str, key: str) -> tuple[str, str]:
    """The header (name, value) a request of this role sends ``key`` in."""
    if role.startswith("authorization-bearer"):
        return "Authorization", f"Bearer {key}"
    return AUTH_HEADER[api], key


def shell_value(api: Api, role: str, wrong_key: str) -> str | None:
    """How a reproducer writes this role's key: a variable, an expression of one, or the made-up key."""
    if role == "none":
        return None
    if role in ("wrong", "authorization-bearer-wrong"):
        return wrong_key
    variable = KEY_VARIABLES[(api, base_role(role) or "main")]
    if role in NEAR_MISSES:
        return NEAR_MISSES[role].shell.format(var=variable)
    return f"${variable}"
