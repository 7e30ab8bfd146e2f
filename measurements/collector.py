"""The cycle collector paused while rows stream, and bounded so that overlapping ingests (the
threads of one worker taking uploads back to back) cannot keep it off for good.

Each chunk of an ingest allocates some 10^5 lists and tuples, which set off full collections
over everything alive (half the endpoint's CPU time, measured by bench/ingest_profile.py). The
rows hold no cycles; reference counting frees them. Other threads' garbage may hold cycles, so
while the collector is off the young generations are still collected every YOUNG_COLLECT_S, and
everything every FULL_COLLECT_S, between chunks (`collector_tick`)."""

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

# Collecting after 4 * 10^5 fresh objects took 38 ms (load 3): a few per cent of a second streamed.
YOUNG_COLLECT_S = 1.0
FULL_COLLECT_S = 30.0  # what a worker would do on its own, at most this late

_lock = threading.Lock()
_holds = 0  # ingests under way with the collector off
_was_on = False  # whether it was on before the first of them
_young_at = 0.0  # when the young generations were last collected (time.monotonic)
_full_at = 0.0  # when everything was


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block; on again when the last block under way ends, good or
    bad, if it was on before the first."""
    global _holds, _was_on, _young_at, _full_at
    with _lock:
        if _holds == 0:
            _was_on = gc.isenabled()
            gc.disable()
            _young_at = _full_at = time.monotonic()
        _holds += 1
    try:
        collector_tick()  # joining a pause held by others: it may be due
        yield
    finally:
        with _lock:
            _holds -= 1
            if _holds == 0 and _was_on:
                gc.enable()


def collector_tick() -> int | None:
    """Collect what is due while the collector is paused: the generation collected, else None.
    Nothing while it is on, or when it was off before the pause (then someone meant it off)."""
    global _young_at, _full_at
    now = time.monotonic()
    with _lock:
        if _holds == 0 or not _was_on:
            return None
        if now - _full_at >= FULL_COLLECT_S:
            generation = 2
            _full_at = now
        elif now - _young_at >= YOUNG_COLLECT_S:
            generation = 1
        else:
            return None
        _young_at = now
    gc.collect(generation)
    return generation
