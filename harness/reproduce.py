"""A failing probe as a `curl` command a user can paste, keys as environment variables.

The key itself never appears: the command reads it from $AIT_API_KEY (or $VYRO_TOKEN,
...; a near miss of the key is a shell expression of that variable). Uploaded files, long or binary text fields and bodies that -F cannot express
(a truncated multipart) are written next to the JSON report when there is one, and
referenced by path.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from inpaint_conformance.contracts import Api

from .credentials import auth_header, shell_value

if TYPE_CHECKING:
    from .exchanges import Exchange

INLINE_LIMIT = 200  # longer text fields go to a file


class Reproducer:
    def __init__(self, origin: str, files_dir: Path | None = None, *, wrong_key: str, note: str | None = None) -> None:
        self.origin = origin.rstrip("/")
        self.files_dir = files_dir
        self.wrong_key = wrong_key
        self.note = note  # e.g. how to start the embedded fake

    def command(self, exchange: Exchange) -> str:
        spec = exchange.spec
        stem = re.sub(r"[^a-z0-9]+", "-", f"{exchange.api.value}-{exchange.probe}".lower()).strip("-")
        args = ["curl", "-sS", "-X", "POST", shlex.quote(self.origin + exchange.path)]
        args += self._auth(exchange.api, spec.auth)
        saved: list[str] = []
        if spec.body == "multipart":
            for name, value in spec.fields.items():
                text = _inline_text(value)
                if text is not None:
                    args += ["--form-string", shlex.quote(f"{name}={text}")]
                else:
                    path = self._save(
                        f"{stem}-{name}.txt", value if isinstance(value, bytes) else value.encode(), saved
                    )
                    args += ["-F", shlex.quote(f"{name}=<{path}")]
            for name, part in spec.files.items():
                suffix = Path(part.filename or "").suffix or ".bin"
                path = self._save(f"{stem}-{name}{suffix}", part.data, saved)
                args += ["-F", shlex.quote(f"{name}=@{path};filename={part.filename};type={part.content_type}")]
        else:
            content_type = exchange.request.headers.get("content-type", "")
            path = self._save(f"{stem}-body.bin", exchange.request.body, saved)
            args += ["-H", shlex.quote(f"content-type: {content_type}"), "--data-binary", shlex.quote(f"@{path}")]
        lines = [" ".join(args)]
        if saved and self.files_dir is None:
            lines.append(
                f"# {', '.join(saved)}: not saved; run verify with --json-report PATH to get them in PATH.probes/"
            )
        if self.note:
            lines.append(f"# {self.note}")
        return "\n".join(lines)

    def _auth(self, api: Api, role: str) -> list[str]:
        value = shell_value(api, role, self.wrong_key)
        if value is None:
            return []
        name, header = auth_header(api, role, value)
        if value == self.wrong_key:
            return ["-H", shlex.quote(f"{name}: {header}")]
        # The key is read from the environment where the command runs: double quotes expand it.
        return ["-H", f'"{name}: {header}"']

    def _save(self, name: str, data: bytes, saved: list[str]) -> str:
        saved.append(name)
        if self.files_dir is None:
            return name
        path = self.files_dir / name
        try:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError:
            return name  # the command still shows what to send; the report is worth more than the file
        return str(path)


def _inline_text(value: str | bytes) -> str | None:
    """The value as it can stand on a command line, or None when it needs a file."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(value) > INLINE_LIMIT or any(ch in value for ch in "\r\n\0"):
        return None
    return value
