"""Helpers shared by the Ray tests (no tests here): what a caller checks in each answer."""

from __future__ import annotations

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.envelopes import AIT_FAILURE_CODE, AIT_SUCCESS_CODE


def documented_shape(api: Api, response) -> str:
    """'success' or 'failure' if the answer has the API's documented shape; fails the test otherwise."""
    if api is Api.AITHRIVING:
        envelope = response.json()
        assert set(envelope) >= {"code", "message", "data"}, envelope
        if envelope["code"] == AIT_SUCCESS_CODE:
            assert response.status_code == 200 and envelope["data"]["image"], envelope.keys()
            return "success"
        assert envelope["code"] == AIT_FAILURE_CODE and envelope["message"].strip(), envelope
        assert envelope["data"] is None
        return "failure"
    if response.status_code == 200:
        assert response.headers["content-type"] == "image/png" and response.content[:8] == b"\x89PNG\r\n\x1a\n"
        return "success"
    assert response.status_code == 500, (response.status_code, response.text[:200])
    return "failure"
