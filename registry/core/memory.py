"""Work that builds large heaps of objects without reference cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    Loading a report's frames or reading, validating and writing an import file creates hundreds of
    thousands of objects and no reference cycles, so each collector pass walks a growing heap and
    frees nothing. Those passes took a fifth of the frames' load at 100,000 patients and a quarter
    of an import commit's CPU at 20,000 levels (BENCHMARKS.md). Reference counting still frees
    everything as usual; the heap stays bounded by the caller's own limits. Restores the previous
    state, so blocks nest."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
