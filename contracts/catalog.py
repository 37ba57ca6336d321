"""The clause catalog: every clause of both APIs, looked up by id or filtered."""

from __future__ import annotations

from collections.abc import Iterable

from . import catalog_aithriving, catalog_vyro
from .clauses import Api, Clause, Level, Side, UnknownClause

CATALOG: tuple[Clause, ...] = tuple(catalog_aithriving.CLAUSES + catalog_vyro.CLAUSES)
_BY_ID: dict[str, Clause] = {clause.id: clause for clause in CATALOG}
if len(_BY_ID) != len(CATALOG):  # a duplicate id would silently merge two rules' verdicts
    raise RuntimeError("duplicate clause ids in the catalog")


def clause(clause_id: str) -> Clause:
    try:
        return _BY_ID[clause_id]
    except KeyError:
        raise UnknownClause(clause_id) from None


def clauses(
    api: Api | str | None = None,
    *,
    level: Level | str | None = None,
    side: Side | str | None = None,
) -> list[Clause]:
    """The catalog, optionally narrowed to one API, level or side, in catalog order."""
    wanted_api = Api.parse(api) if api is not None else None
    wanted_level = Level(level) if level is not None else None
    wanted_side = Side(side) if side is not None else None
    return [
        c
        for c in CATALOG
        if (wanted_api is None or c.api is wanted_api)
        and (wanted_level is None or c.level is wanted_level)
        and (wanted_side is None or wanted_side in c.sides)
    ]


def credit_clauses(api: Api) -> list[str]:
    """The ids of an API's credit clauses: the ones a run judges only where balances are observable."""
    return [c.id for c in clauses(api) if c.id.startswith(f"{api.prefix}.credits.")]


def ids(items: Iterable[Clause]) -> list[str]:
    return [c.id for c in items]
