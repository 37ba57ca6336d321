"""The log settings the fake's server and the CLI use; importing any module changes none.

Library users (a test importing the validators, the pytest plugin's fixture) keep their
own logging as it was until a server of ours starts; the CLI, `serve`'s workers, the
threaded test server and Ray's replicas call `configure_logging()` when they start.
"""

from __future__ import annotations

import logging

from .app import InjectedDisconnect


class HideInjectedDisconnects(logging.Filter):
    """An injected drop is the fault working, not a server error: keep it out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


class HideTorchvisionFallbackNotice(logging.Filter):
    """The reference pipelines import CLIP's image processor, which falls back to its Pillow
    version without torchvision and says so at every start (and in every Ray replica). The
    engine never uses it (no safety checker), so the notice is noise; nothing else is muted."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision (not installed); falling back" not in record.getMessage()


# logger name -> the filter it gets (one instance each, so calling twice adds nothing).
_FILTERS: dict[str, logging.Filter] = {
    "uvicorn.error": HideInjectedDisconnects(),
    "transformers.utils.import_utils": HideTorchvisionFallbackNotice(),
}
# python-multipart logs each malformed byte it meets; contracts.multipart's FormError says it once.
_QUIETED = ("python_multipart", "python_multipart.multipart")


def configure_logging() -> None:
    """Quiet the libraries' noise the fake's server would otherwise print; idempotent."""
    for name, log_filter in _FILTERS.items():
        logger = logging.getLogger(name)
        if log_filter not in logger.filters:
            logger.addFilter(log_filter)
    for name in _QUIETED:
        logging.getLogger(name).setLevel(logging.ERROR)
