"""Helpers shared by the tests of the fake (no tests here): images, requests, the seed examples."""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import subprocess
import sys
import time
from importlib.resources import files as package_files
from pathlib import Path

from PIL import Image

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import PROVIDER_HOSTS

ROOT = Path(__file__).resolve().parent.parent
SIZE = (96, 64)


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = SIZE, mode: str = "RGB", color=(40, 120, 200), **options
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **options)
    return buffer.getvalue()


def mask_bytes(fmt: str = "PNG", size: tuple[int, int] = SIZE) -> bytes:
    """A mask that repaints the right half (black keeps, white repaints)."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, fmt)
    return buffer.getvalue()


def parts(image: bytes | None = None, mask: bytes | None = None) -> dict:
    """The file parts of a valid request (override either)."""
    return {
        "image": ("image.png", image if image is not None else image_bytes()),
        "mask": ("mask.png", mask if mask is not None else mask_bytes()),
    }


def decoded_ait_image(envelope: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(envelope["data"]["image"])))


# -- the seed documents' example code ---------------------------------------------------
def _seed_text(name: str) -> str:
    return (package_files("inpaint_conformance.contracts") / "seeds" / name).read_text(encoding="utf-8")


def aithriving_example(base_url: str | None, key: str) -> str:
    """The AIThriving document's example request, as written but for host and key.

    Its two `//` lines are not Python; they mark where the client reads the image
    and where it handles an error, and become assignments the test reads.
    """
    text = _seed_text("aithriving-inpaint.txt")
    code = text[text.index("import requests") : text.index("Example Response", text.index("import requests"))]
    code = code.replace('"your-auth-token"', repr(key))
    code = code.replace("// image: data['data']['image']", "image = data['data']['image']")
    code = code.replace("// error", "error = data")
    if base_url is not None:
        code = code.replace(f"https://{PROVIDER_HOSTS[Api.AITHRIVING]}", base_url)
    return code


def vyro_example(base_url: str | None, key: str, folder: Path) -> str:
    """The Vyro document's example request, as written but for host, key and file paths.

    The document's URL literal is wrapped in <...> (a markdown link that leaked into
    the code); requests cannot send that, so the brackets go with the host change.
    """
    text = _seed_text("vyro-imagine-inpaint.txt")
    code = text[text.index("import requests") :]
    url = re.search(r"'<(https://[^>]+)>'", code)
    assert url, "the Vyro example's URL literal changed: update this helper"
    target = url.group(1) if base_url is None else url.group(1).replace(f"https://{PROVIDER_HOSTS[Api.VYRO]}", base_url)
    code = code.replace(url.group(0), repr(target))
    code = code.replace("'<Your bearer token here>'", repr(key))
    return code.replace("/path/to/your/", f"{folder}/")


def write_example_files(folder: Path) -> None:
    """The files both examples open: ./your-image.png, ./your-mask.png, image.jpg, mask.jpg."""
    (folder / "your-image.png").write_bytes(image_bytes("PNG"))
    (folder / "your-mask.png").write_bytes(mask_bytes("PNG"))
    (folder / "image.jpg").write_bytes(image_bytes("JPEG"))
    (folder / "mask.jpg").write_bytes(mask_bytes("JPEG"))


def run_example(code: str, folder: Path) -> dict:
    """exec the example in ``folder`` (it opens files relative to it); returns its variables."""
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(code, "<seed example>", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


# -- `inpaint-conformance serve` as a subprocess ----------------------------------------
class ServeProcess:
    """`python -m inpaint_conformance.harness.cli serve ...` in a child process; `url` is read from its banner."""

    def __init__(self, *flags: str, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inpaint_conformance.harness.cli", "serve", "--port", "0", *flags],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.banner = self._read_banner(timeout)
        found = re.search(r"AIThriving\s+POST (http://\S+?)/api/edit/inpaint", self.banner)
        assert found, f"no AIThriving URL in the banner:\n{self.banner}"
        self.url = found.group(1)

    def _read_banner(self, timeout: float) -> str:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"serve exited ({self.proc.wait()}) before it was ready:\n{''.join(lines)}")
            lines.append(line)
            if "Ctrl-C stops the server." in line:
                return "".join(lines)
        raise AssertionError(f"serve printed no banner within {timeout} s:\n{''.join(lines)}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait(10)
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
