"""Every clause in the catalog is tested: a new clause without a good and a bad example fails here.

A clause is covered by a row of one of the tables: request-side (a request
`validate_request` accepts and one it refuses), server-side (an answer
`validate_response` accepts and one it flags), accept-only (MAY clauses no single
answer can break), or, for the clauses below that need several exchanges, through
`inpaint_conformance.contracts.sequences`.
"""

from __future__ import annotations

from test_contracts_requests import REQUEST_CASES
from test_contracts_responses import ACCEPT_ONLY_CASES, RESPONSE_CASES
from test_contracts_sequences import SEQUENCE_CASES

from inpaint_conformance.contracts import CATALOG

# Judged across several exchanges, so no single exchange can show them broken:
MULTI_EXCHANGE = {
    "ait.seed.random_differs",  # two random-seed answers compared (check_random_seeds)
    "ait.reproducible",  # two answers to the same seeded request compared (check_reproducible)
    "ait.seed.sensitivity",  # two answers to requests differing in their seed compared (check_seed_sensitivity)
    "ait.credits.success",  # balance before and after (check_charge), likewise:
    "ait.credits.failure",
    "ait.credits.insufficient",
    "ait.credits.isolation",  # the second key's balance around the first key's success
    "ait.rate.limit",  # a 429 must not be charged: balance before and after
    "ait.credits.concurrent",  # requests at once: the balance before and after them (check_overlap)
    "ait.credits.no_overdraft",  # requests at once on a key that cannot pay for all (check_double_spend)
    "ait.credits.sequence",  # a sequence of answers against the ledger model (LedgerModel)
}
# The same tables, with the rows whose bad answer contracts do not flag yet (xfail, strict).
KNOWN_GAPS = {case.clause for case in RESPONSE_CASES if case.gap}


def single_exchange_ids() -> set[str]:
    return (
        {case.clause for case in REQUEST_CASES}
        | {case.clause for case in RESPONSE_CASES}
        | {clause_id for clause_id, *_ in ACCEPT_ONLY_CASES}
    )


def test_every_clause_has_a_good_and_a_bad_example():
    catalog = {c.id for c in CATALOG}
    untested = catalog - MULTI_EXCHANGE - single_exchange_ids()
    assert not untested, (
        f"clauses without a test: {sorted(untested)}; add a (clause, good, bad) row to tests/test_contracts_requests.py "
        "or tests/test_contracts_responses.py, or a sequence to tests/test_contracts_sequences.py"
    )


def test_tables_name_only_catalog_clauses():
    catalog = {c.id for c in CATALOG}
    tested = single_exchange_ids() | {clause_id for clause_id, *_ in SEQUENCE_CASES}
    assert tested - catalog == set(), "a test row names a clause the catalog does not have"


def test_multi_exchange_clauses_are_tested_through_sequences():
    assert {clause_id for clause_id, *_ in SEQUENCE_CASES} == MULTI_EXCHANGE


def test_known_gaps_are_few_and_named():
    """Each gap is an xfail row with the fix in its reason; they are listed here so none hides."""
    assert KNOWN_GAPS == set()
