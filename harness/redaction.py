"""Removing a run's keys from what a report shows, where they stand (B3).

Headers that carry credentials are redacted by name (`contracts.redact_headers`). A key
a server echoes in its own text (an error message, a body excerpt, a debugging header)
is replaced as a whole token: with the key `k`, "unknown key k" becomes "unknown key
[redacted]" while "mask" stays "mask". A field whose whole value is a key is replaced.
Nothing else is touched: JSON keys, field names, file names and image data are never
searched, so a one-character key cannot corrupt a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from inpaint_conformance.contracts import redact_headers
from inpaint_conformance.contracts.exchange import REDACTED

# Characters a key is made of besides letters and digits; a key next to one is part of a longer word.
_WORD = r"A-Za-z0-9_\-"


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if s and s.strip())
        # Longest first, so a key that contains another is replaced whole.
        alternatives = "|".join(re.escape(s) for s in sorted(self.secrets, key=len, reverse=True))
        self._token = re.compile(f"(?<![{_WORD}])(?:{alternatives})(?![{_WORD}])") if alternatives else None

    def text(self, value: str) -> str:
        """``value`` with each whole-token occurrence of a key replaced."""
        if self._token is None or not value:
            return value
        return self._token.sub(REDACTED, value)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Credential headers redacted by name; a key echoed in any other header's value, as a token."""
        return {name: self.text(value) for name, value in redact_headers(headers).items()}

    def value(self, value: str) -> str:
        """A field value: replaced when it is a key, as a token inside longer text."""
        return REDACTED if value.strip() in self.secrets else self.text(value)
