"""The cycle collector paused by ingests: on again once the last of overlapping ingests ends
(threads of one worker), good or bad, and while it is off what is due is still collected."""

import gc
import threading

from measurements import collector
from measurements.collector import collector_paused, collector_tick


def _chain(threads: int, fail_at: int | None = None) -> list[bool]:
    """`threads` pauses each taken before the one before it ends, so one is always held; the
    `fail_at`-th raises. What each saw of the collector just before it left."""
    entered = [threading.Event() for _ in range(threads)]
    seen: list[bool] = [True] * threads

    def work(i: int) -> None:
        try:
            with collector_paused():
                entered[i].set()
                if i + 1 < threads:
                    entered[i + 1].wait(5)
                seen[i] = gc.isenabled()
                if i == fail_at:
                    raise RuntimeError("a bad upload")
        except RuntimeError:
            pass

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for i, worker in enumerate(workers):
        worker.start()
        entered[i].wait(5)
    for worker in workers:
        worker.join(5)
    return seen


def test_overlapping_pauses_keep_it_off_and_the_last_to_end_turns_it_on():
    assert gc.isenabled()
    assert _chain(8) == [False] * 8
    assert gc.isenabled()


def test_a_pause_ending_in_an_exception_turns_it_on_again():
    assert _chain(5, fail_at=4) == [False] * 5  # the last one raises
    assert gc.isenabled()
    assert _chain(5, fail_at=1) == [False] * 5
    assert gc.isenabled()


def test_it_was_off_before_it_stays_off_and_nothing_is_collected(monkeypatch, gc_collections):
    monkeypatch.setattr(collector, "YOUNG_COLLECT_S", 0.0)
    gc.disable()
    try:
        assert _chain(3) == [False] * 3
        with collector_paused():
            assert collector_tick() is None
        assert not gc.isenabled() and gc_collections == []
    finally:
        gc.enable()


def test_while_paused_the_young_generations_are_collected_when_due(monkeypatch, gc_collections):
    with collector_paused():
        assert collector_tick() is None  # just paused: nothing due
        monkeypatch.setattr(collector, "YOUNG_COLLECT_S", 0.0)
        assert collector_tick() == 1
        monkeypatch.setattr(collector, "FULL_COLLECT_S", 0.0)
        assert collector_tick() == 2
        assert gc_collections == [1, 2]  # inside: once on, gc collects by itself
    assert collector_tick() is None  # not paused: the collector runs by itself
