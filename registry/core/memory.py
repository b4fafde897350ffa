"""Bulk work in one request or command: the cyclic garbage collector paused while it runs."""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector for a bounded bulk job (an import of at most the row limit).

    A bulk job keeps tens of thousands of container objects alive until it ends (parsed rows, the
    records to insert); each full collection walks all of them again, so the collector's time grows
    with the square of the job (a 10,000-row import spent ~1 s of ~4.5 s in it). Reference counting
    still frees everything that is not part of a cycle; cycles made meanwhile wait until the job
    ends and the collector runs again. Nested use and a collector paused by the caller are left as
    they were."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
