"""asynq_core.tracing: recordings, rounds, reports, the N+1 detector and assert_max_rounds.

The batches are the tiny flush groups of conftest.py (``make_batch``): each
test builds its own and the functions below take the batch to fetch from, so
that what a recording sees is exactly what the test arranged.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any

import pytest

from asynq_core import asynq, debug, get_scheduler, profiler
from asynq_core.futures import DeferredFuture
from asynq_core.scheduler import TaskScheduler
from asynq_core.tracing import (
    CodeLocation,
    NPlusOneWarning,
    Recording,
    TooManyRoundsError,
    assert_max_rounds,
    record,
)


def line_of(fn: Any, marker: str) -> int:
    """The line number of the line of ``fn``'s source that contains ``marker``."""
    lines, first = inspect.getsourcelines(inspect.unwrap(getattr(fn, "fn", fn)))
    for offset, line in enumerate(lines):
        if marker in line:
            return first + offset
    raise AssertionError(f"{marker!r} is not in the source of {fn!r}")


@asynq()
def fetch(batch: Any, key: Any) -> Any:
    value = yield batch.item(key)  # fetch: yield
    return value


@asynq()
def fetch_all(batch: Any, keys: list[Any]) -> Any:
    values = yield [fetch.asynq(batch, key) for key in keys]
    return values


@asynq()
def fetch_one_by_one(batch_of: Callable[[], Any], keys: list[Any]) -> Any:
    values = []
    for key in keys:
        values.append((yield batch_of().item(key)))  # one by one: yield
    return values


@asynq()
def two_levels(first: Any, second: Any, keys: list[Any]) -> Any:
    values = yield [fetch.asynq(first, key) for key in keys]
    return (yield [fetch.asynq(second, value) for value in values])


class Batches:
    """A fresh batch of ``name`` whenever the current one was flushed, as real stores do."""

    def __init__(self, make_batch: Callable[..., Any], name: str, **kwargs: Any) -> None:
        self.make = lambda: make_batch(name, **kwargs)
        self.current = self.make()

    def __call__(self) -> Any:
        if self.current.flush_count:
            self.current = self.make()
        return self.current


# -- rounds and flushes ----------------------------------------------------------------


def test_one_batched_wave_is_one_round_with_one_flush(make_batch) -> None:
    batch = make_batch("Users")
    with record() as recording:
        assert fetch_all(batch, [1, 2, 3]) == [1, 2, 3]
    assert recording.rounds == 1
    [flush] = recording.flushes
    assert (flush.batch, flush.batch_class, flush.items, flush.round) == (
        "TinyBatch",
        type(batch),
        3,
        0,
    )
    assert flush.error is None and flush.failed_items == 0
    assert 0 <= flush.start <= flush.end <= recording.wall_time
    assert recording.tasks_finished == 4  # fetch_all and its three fetches


def test_each_wave_of_dependent_lookups_is_a_round(make_batch) -> None:
    first, second = make_batch("first"), make_batch("second", compute=lambda key: key * 10)
    with record() as recording:
        assert two_levels(first, second, [1, 2]) == [10, 20]
    assert recording.rounds == 2
    assert [(flush.round, flush.items) for flush in recording.flushes] == [(0, 2), (1, 2)]
    assert [
        flush.start < later.start
        for flush, later in zip(recording.flushes, recording.flushes[1:], strict=False)
    ] == [True]


@asynq()
def both(first: Any, second: Any) -> Any:
    values = yield [first.item("a"), second.item("b")]
    return values


def test_flushes_with_no_task_step_between_them_are_one_round(make_batch) -> None:
    # The task waits on both batches: after the first flush it still cannot
    # run, so the scheduler flushes the second one at once, in the same round.
    first, second = make_batch("first", priority=2), make_batch("second", priority=1)
    with record() as recording:
        assert both(first, second) == ["a", "b"]
    assert recording.rounds == 1
    assert [(flush.round, flush.items) for flush in recording.flushes] == [(0, 1), (0, 1)]
    assert recording.flushes_by_round() == [recording.flushes]


def test_groups_flushed_together_are_each_recorded(make_batch) -> None:
    # Groups that opt in to concurrent flushing may be flushed by one call of
    # the scheduler; either way each is a flush of its own, in the same round.
    tiny = type(make_batch("x"))

    class Together(tiny):  # type: ignore[misc, valid-type]
        concurrent = True

    first, second = Together("first", 2, lambda key: key, []), Together("second", 1, str, [])
    with record() as recording:
        assert both(first, second) == ["a", "b"]
    assert first.flush_count == second.flush_count == 1
    assert [(flush.round, flush.items) for flush in recording.flushes] == [(0, 1), (0, 1)]
    both_line = line_of(both, "values = yield")
    assert [next(iter(flush.locations)).lineno for flush in recording.flushes] == [both_line] * 2


def test_a_flush_records_the_code_location_that_yielded_its_items(make_batch) -> None:
    batch = make_batch("Users")
    with record() as recording:
        fetch_all(batch, [1, 2, 3])
    [flush] = recording.flushes
    location = CodeLocation(__file__, line_of(fetch, "fetch: yield"), "fetch")
    assert flush.locations == {location: 3}
    assert str(location).endswith(f"test_tracing.py:{location.lineno} in fetch")


def inner_fetch(batch: Any, key: Any) -> Any:
    value = yield batch.item(key)  # inner: yield
    return value


@asynq()
def delegating(batch: Any, key: Any) -> Any:
    value = yield from inner_fetch(batch, key)
    return value


def test_the_location_of_a_yield_from_is_the_innermost_generator(make_batch) -> None:
    batch = make_batch("Users")
    with record() as recording:
        assert delegating(batch, 7) == 7
    [flush] = recording.flushes
    assert list(flush.locations) == [
        CodeLocation(__file__, line_of(inner_fetch, "inner: yield"), "inner_fetch")
    ]


def test_failed_items_make_the_flush_error(make_batch) -> None:
    def compute(key: int) -> int:
        if key < 0:
            raise KeyError(key)
        return key

    batch = make_batch("Users", compute=compute)

    @asynq()
    def tolerant(keys: list[int]) -> Any:
        results = yield [fetch.asynq(batch, key) for key in keys]
        return results

    with record() as recording, pytest.raises(KeyError):
        tolerant([1, -2, -3])
    [flush] = recording.flushes
    assert flush.items == 3 and flush.failed_items == 2
    assert isinstance(flush.error, KeyError) and flush.error.args == (-2,)


def test_an_error_raised_by_flush_is_recorded_and_reaches_the_caller(make_batch) -> None:
    batch = make_batch("users", fail_with=RuntimeError("the connection dropped"))
    with record() as recording, pytest.raises(RuntimeError, match="connection dropped"):
        fetch_all(batch, [1])
    [flush] = recording.flushes
    assert flush.batch == "TinyBatch" and flush.failed_items == 0
    assert isinstance(flush.error, RuntimeError)


class ItemlessGroup:
    """A flush group without an ``items`` list: its size is what tasks waited on."""

    def __init__(self) -> None:
        self.futures: list[Any] = []

    def get_priority(self) -> int:
        return 0

    def flush(self) -> None:
        for future in self.futures:
            if not future.is_computed():
                future.set_value(len(self.futures))


class ItemlessFuture(DeferredFuture[Any]):
    def __init__(self, group: ItemlessGroup) -> None:
        super().__init__()
        self.group = group
        group.futures.append(self)

    def flush_group(self) -> ItemlessGroup:
        return self.group


def test_a_group_without_items_counts_the_futures_waited_on() -> None:
    group = ItemlessGroup()

    @asynq()
    def waits() -> Any:
        values = yield [ItemlessFuture(group), ItemlessFuture(group)]
        return values

    with record() as recording:
        assert waits() == [2, 2]
    [flush] = recording.flushes
    assert flush.items == 2 and flush.batch == "ItemlessGroup"


# -- time and tasks ----------------------------------------------------------------------


def test_time_in_flushes_is_not_counted_as_time_in_tasks(make_batch) -> None:
    def slow(key: Any) -> Any:
        time.sleep(0.03)
        return key

    batch = make_batch("Slow", compute=slow)

    @asynq()
    def outer() -> Any:
        # A synchronous call inside a task: a nested loop, whose flush runs
        # inside the step of outer().
        value = fetch(batch, 1)
        yield None
        return value

    with record() as recording:
        assert outer() == 1
    assert recording.flush_time >= 0.03
    assert recording.task_time < 0.03
    assert recording.task_time + recording.flush_time <= recording.wall_time
    assert recording.tasks_finished == 2
    names = {step.name for step in recording.steps}
    assert names == {f"{__name__}.fetch", f"{outer.fn.__module__}.{outer.fn.__qualname__}"}
    assert [step.finished for step in recording.steps].count(True) == 2


def test_steps_are_recorded_with_their_function_names_and_times(make_batch) -> None:
    batch = make_batch("Users")
    with record() as recording:
        fetch_all(batch, [1])
    assert [(step.name.rsplit(".", 1)[1], step.finished) for step in recording.steps] == [
        ("fetch_all", False),
        ("fetch", False),
        ("fetch", True),
        ("fetch_all", True),
    ]
    starts = [step.start for step in recording.steps]
    assert starts == sorted(starts) and all(step.duration >= 0 for step in recording.steps)


# -- scope: nesting, threads, nil cost -------------------------------------------------


def test_nested_recordings_both_see_the_events_of_their_window(make_batch) -> None:
    first, second = make_batch("first"), make_batch("second")
    with record() as outer:
        fetch_all(first, [1])
        with record() as inner:
            fetch_all(second, [2])
        assert inner.rounds == 1 and not inner.active
        assert outer.active
    assert outer.rounds == 2 and [flush.items for flush in outer.flushes] == [1, 1]
    assert [flush.round for flush in inner.flushes] == [0]
    assert inner.flushes[0].start >= 0 and inner.tasks_finished == 2
    assert outer.tasks_finished == 4


def test_a_recording_sees_only_its_own_thread(make_batch) -> None:
    seen_in_thread: list[Recording] = []

    def other_thread() -> None:
        with record() as theirs:
            fetch_all(make_batch("theirs"), [1, 2, 3, 4])
        seen_in_thread.append(theirs)

    with record() as mine:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        fetch_all(make_batch("mine"), [1])
    assert [flush.items for flush in mine.flushes] == [1]
    assert [flush.items for flush in seen_in_thread[0].flushes] == [4]


def test_with_nothing_recording_the_lean_loop_runs(make_batch, monkeypatch) -> None:
    with record():
        fetch_all(make_batch("during"), [1])
    assert get_scheduler()._tracers == []

    def traced(*args: Any) -> Any:
        raise AssertionError("the traced loop ran with nothing recording")

    monkeypatch.setattr(TaskScheduler, "_step_traced", traced)
    assert fetch_all(make_batch("after"), [1, 2]) == [1, 2]


def test_a_recording_and_the_profiler_work_together(make_batch) -> None:
    debug.options.COLLECT_PERF_STATS = True
    with record() as recording:
        fetch_all(make_batch("Users"), [1, 2])
    entries = profiler.flush()
    assert [entry.get("batch_size") for entry in entries if "batch_size" in entry] == [2]
    assert len([entry for entry in entries if "batch_size" not in entry]) == 3
    assert recording.rounds == 1 and recording.tasks_finished == 3


def test_a_recording_records_one_block_only() -> None:
    recording = record()
    with recording:
        pass
    with pytest.raises(RuntimeError, match="already entered"):
        recording.__enter__()


# -- reports ----------------------------------------------------------------------------


def test_summary_has_a_row_per_batch(make_batch) -> None:
    users = Batches(make_batch, "users")
    with record(warn_n_plus_one=False) as recording:
        fetch_all(users(), [1, 2, 3, 4])
        fetch_one_by_one(users, [5, 6])
    text = recording.summary()
    lines = text.splitlines()
    assert lines[0] == "asynq recording: 3 rounds, 3 flushes (6 items), 6 tasks finished"
    assert lines[1].startswith("time: ") and "in tasks" in lines[1]
    assert lines[2].split() == [
        "batch",
        "rounds",
        "flushes",
        "items",
        "mean",
        "size",
        "failed",
        "time",
        "ms",
    ]
    assert lines[3].split()[:6] == ["TinyBatch", "3", "3", "6", "2.0", "0"]
    [stats] = recording.batch_stats()
    assert (stats.rounds, stats.flushes, stats.items, stats.mean_size) == (3, 3, 6, 2.0)


def test_summary_of_an_empty_recording() -> None:
    with record() as recording:
        pass
    assert recording.summary().splitlines()[-1] == "no batch was flushed"


def test_the_chrome_trace_has_task_round_and_per_batch_tracks(make_batch, tmp_path) -> None:
    first, second = make_batch("first"), make_batch("second")
    with record() as recording:
        two_levels(first, second, [1, 2])
    path = tmp_path / "trace.json"
    recording.write_chrome_trace(path)
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    names = {
        (event["tid"], event["args"]["name"])
        for event in events
        if event["ph"] == "M" and event["name"] == "thread_name"
    }
    assert names == {(1, "tasks"), (2, "rounds"), (3, "flush TinyBatch")}
    slices = [event for event in events if event["ph"] == "X"]
    flushes = [event for event in slices if event["cat"] == "flush"]
    assert [
        (event["tid"], event["args"]["items"], event["args"]["round"]) for event in flushes
    ] == [
        (3, 2, 0),
        (3, 2, 1),
    ]
    rounds = [event["name"] for event in slices if event["cat"] == "round"]
    assert rounds == ["round 0", "round 1"]
    tasks = [event for event in slices if event["cat"] == "task"]
    assert {event["name"].rsplit(".", 1)[1] for event in tasks} == {"two_levels", "fetch"}
    assert all(event["ts"] >= 0 and event["dur"] >= 0 for event in slices)
    location = next(iter(flushes[0]["args"]["locations"]))
    assert location.endswith(f":{line_of(fetch, 'fetch: yield')} in fetch")


def test_the_chrome_trace_puts_each_batch_class_on_its_own_track(make_batch) -> None:
    class OtherBatch(type(make_batch("x"))):  # type: ignore[misc]
        pass

    other = OtherBatch("other", 0, lambda key: key, [])
    with record() as recording:
        both(make_batch("first", priority=1), other)
    tracks = {
        event["args"]["name"]: event["tid"]
        for event in recording.chrome_trace()["traceEvents"]
        if event["name"] == "thread_name"
    }
    flushes = {
        event["name"]: event["tid"]
        for event in recording.chrome_trace()["traceEvents"]
        if event.get("cat") == "flush"
    }
    assert flushes == {
        "TinyBatch": tracks["flush TinyBatch"],
        OtherBatch.__qualname__: tracks[f"flush {OtherBatch.__qualname__}"],
    }
    assert len(set(flushes.values())) == 2


def test_the_svg_is_a_well_formed_timeline_of_rounds_and_flushes(make_batch, tmp_path) -> None:
    def failing(key: Any) -> Any:
        raise ValueError(key)

    users, broken = Batches(make_batch, "users"), make_batch("broken", compute=failing)

    @asynq()
    def tolerant() -> Any:
        try:
            yield fetch.asynq(broken, "x")
        except ValueError:
            pass

    with record(warn_n_plus_one=False) as recording:
        fetch_one_by_one(users, [1, 2, 3])
        tolerant()
    path = tmp_path / "timeline.svg"
    recording.write_svg(path)
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "tasks" in texts and "flush TinyBatch" in texts
    assert texts[0] == "asynq: 4 rounds, 4 flushes (4 items), 3 tasks finished"
    titles = [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}title")]
    assert [title for title in titles if title.startswith("round ")] == [
        f"round {index}: 1 flush, 1 item" for index in range(4)
    ]
    assert sum(title.startswith("TinyBatch: 1 item, round ") for title in titles) == 4
    assert any("1 failed (ValueError('x'))" in title for title in titles)
    fills = [element.get("fill") for element in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert "#e45756" in fills  # the failed flush is drawn in the error colour


def test_the_svg_stays_well_formed_whatever_the_batch_is_named(make_batch, tmp_path) -> None:
    # XML 1.0 cannot hold most control characters, escaped or not, nor lone surrogates.
    name = "users\x00\x1b[31m.get\ud800\ufffe <&>"
    batch = make_batch("Users", compute=lambda key: 1 / 0)
    batch.trace_name = name
    with record() as recording, pytest.raises(ZeroDivisionError):
        fetch_all(batch, [1])
    path = tmp_path / "timeline.svg"
    recording.write_svg(path)
    root = ElementTree.parse(path).getroot()
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    shown = "users\\x00\\x1b[31m.get\\ud800\\ufffe <&>"
    assert f"flush {shown}" in texts
    titles = [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(title.startswith(f"{shown}: 1 item, round 0") for title in titles)


def test_reports_reject_bad_arguments(tmp_path) -> None:
    with record() as recording:
        pass
    with pytest.raises(TypeError, match=r"write_svg\(\) takes a file path .*got 42"):
        recording.write_svg(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"write_chrome_trace\(\) takes a file path .*None"):
        recording.write_chrome_trace(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"svg\(\): width must be an int >= 400, got 10"):
        recording.svg(10)
    with pytest.raises(
        ValueError, match=r"record\(\): n_plus_one_rounds must be an int >= 2, got 1"
    ):
        record(n_plus_one_rounds=1)
    with pytest.raises(ValueError, match=r"n_plus_one_max_items must be an int >= 1, got 0"):
        record(n_plus_one_max_items=0)
    with pytest.raises(ValueError, match=r"n_plus_one\(\): n_plus_one_rounds .* got 'x'"):
        recording.n_plus_one(min_rounds="x")  # type: ignore[arg-type]


# -- N+1 detection ------------------------------------------------------------------------


def test_a_yield_in_a_loop_warns_at_the_line_of_the_yield(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.warns(NPlusOneWarning) as caught:
        with record() as recording:
            assert fetch_one_by_one(users, [1, 2, 3, 4]) == [1, 2, 3, 4]
    [warning] = caught.list
    assert warning.filename == __file__
    assert warning.lineno == line_of(fetch_one_by_one, "one by one: yield")
    message = str(warning.message)
    assert "TinyBatch was flushed in 4 rounds (rounds 0, 1, 2, 3)" in message
    assert "fetch_one_by_one" in message and "yield inside a loop" in message
    [finding] = recording.n_plus_one()
    assert finding.rounds == (0, 1, 2, 3) and finding.items == 4


def test_batched_code_does_not_warn(make_batch) -> None:
    first, second = make_batch("first"), make_batch("second")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NPlusOneWarning)
        with record() as recording:
            fetch_all(make_batch("users"), list(range(10)))
            two_levels(first, second, [1])  # one-item batches, but not from a loop
    assert recording.n_plus_one() == []


def test_n_plus_one_thresholds_are_configurable(make_batch) -> None:
    users = Batches(make_batch, "users")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NPlusOneWarning)
        with record(n_plus_one_rounds=5) as recording:
            fetch_one_by_one(users, [1, 2, 3, 4])
    assert recording.n_plus_one() == []
    assert len(recording.n_plus_one(min_rounds=4)) == 1

    @asynq()
    def pairs(keys: list[int]) -> Any:
        values = []
        for key in keys:
            values.append((yield [users().item(key), users().item(-key)]))
        return values

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with record() as recording:
            pairs([1, 2, 3])
    assert caught == [] and recording.n_plus_one() == []
    assert len(recording.n_plus_one(max_items=2)) == 1
    with pytest.warns(NPlusOneWarning, match="with 6 items in all"):
        with record(n_plus_one_max_items=2):
            pairs([1, 2, 3])


def test_alternating_batch_classes_in_a_loop_are_both_found(make_batch) -> None:
    users, names = Batches(make_batch, "users"), Batches(make_batch, "names")

    class NameBatch(type(make_batch("x"))):  # type: ignore[misc]
        pass

    names.make = lambda: NameBatch("names", 0, lambda key: f"name {key}", [])
    names.current = names.make()

    @asynq()
    def names_of(keys: list[int]) -> Any:
        result = []
        for key in keys:
            uid = yield users().item(key)  # alternating: users
            result.append((yield names().item(uid)))  # alternating: names
        return result

    with pytest.warns(NPlusOneWarning) as caught:
        with record() as recording:
            assert names_of([1, 2, 3]) == ["name 1", "name 2", "name 3"]
    assert recording.rounds == 6
    found = {
        (finding.batch, finding.location.lineno, finding.rounds)
        for finding in recording.n_plus_one()
    }
    assert found == {
        ("TinyBatch", line_of(names_of, "alternating: users"), (0, 2, 4)),
        (NameBatch.__qualname__, line_of(names_of, "alternating: names"), (1, 3, 5)),
    }
    assert len(caught.list) == 2


def test_no_warning_when_disabled_or_when_the_block_raised(make_batch) -> None:
    users = Batches(make_batch, "users")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NPlusOneWarning)
        with record(warn_n_plus_one=False) as recording:
            fetch_one_by_one(users, [1, 2, 3])
        assert len(recording.n_plus_one()) == 1
        with pytest.raises(LookupError), record():
            fetch_one_by_one(users, [1, 2, 3])
            raise LookupError("the block failed")


def test_a_big_batch_from_the_same_line_breaks_the_run(make_batch) -> None:
    users = Batches(make_batch, "users")

    @asynq()
    def fetch_keys(keys: list[Any]) -> Any:
        values = yield [users().item(key) for key in keys]  # same line: yield
        return values

    with record(warn_n_plus_one=False) as recording:
        fetch_keys([1])
        fetch_keys([2])
        fetch_keys([3, 4, 5])
        fetch_keys([6])
        fetch_keys([7])
    assert recording.n_plus_one() == []
    fetch_keys_line = line_of(fetch_keys, "same line: yield")
    with record(warn_n_plus_one=False) as recording:
        for key in range(3):
            fetch_keys([key])
    [finding] = recording.n_plus_one()
    assert finding.location.lineno == fetch_keys_line


@asynq()
def fetch_through_a_wrapper(batch_of: Callable[[], Any], keys: list[Any]) -> Any:
    values = []
    for key in keys:
        values.append((yield fetch.asynq(batch_of(), key)))  # wrapper loop: yield
    return values


@asynq()
def handler(batch_of: Callable[[], Any], keys: list[Any]) -> Any:
    values = yield fetch_through_a_wrapper.asynq(batch_of, keys)  # handler: yield
    return values


def site(fn: Any, marker: str) -> str:
    """How reports name the line of ``fn`` that holds ``marker``."""
    return str(CodeLocation(__file__, line_of(fn, marker), fn.fn.__qualname__))


def test_a_loop_yielding_a_wrapper_task_is_named_not_the_wrappers_yield(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.warns(NPlusOneWarning) as caught:
        with record() as recording:
            assert handler(users, [1, 2, 3]) == [1, 2, 3]
    [warning] = caught.list
    assert (warning.filename, warning.lineno) == (
        __file__,
        line_of(fetch_through_a_wrapper, "wrapper loop: yield"),
    )
    chain = " -> ".join(
        [
            site(handler, "handler: yield"),
            site(fetch_through_a_wrapper, "wrapper loop: yield"),
            site(fetch, "fetch: yield"),
        ]
    )
    message = str(warning.message)
    assert f"each time waited on at {chain}:" in message
    assert f"a yield inside a loop at {site(fetch_through_a_wrapper, 'wrapper loop: yield')}?" in (
        message
    )
    [finding] = recording.n_plus_one()
    assert finding.location.lineno == line_of(fetch_through_a_wrapper, "wrapper loop: yield")
    assert [location.function for location in finding.stack] == [
        "handler",
        "fetch_through_a_wrapper",
        "fetch",
    ]
    # Each flush knows the whole chain, and still the line of the innermost yield.
    flush = recording.flushes[0]
    assert list(flush.stacks) == [finding.stack]
    assert list(flush.locations) == [finding.stack[-1]]


def test_the_loop_is_named_under_asyncio_too(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.warns(NPlusOneWarning) as caught:
        with record():
            assert asyncio.run(handler.asyncio(users, [1, 2, 3])) == [1, 2, 3]
    [warning] = caught.list
    assert warning.lineno == line_of(fetch_through_a_wrapper, "wrapper loop: yield")
    assert site(handler, "handler: yield") in str(warning.message)


def test_a_synchronous_call_inside_a_task_continues_the_chain(make_batch) -> None:
    users = Batches(make_batch, "users")

    @asynq()
    def calls_synchronously() -> Any:
        yield None
        return fetch_through_a_wrapper(users, [1, 2, 3])  # synchronous call

    with record(warn_n_plus_one=False) as recording:
        assert calls_synchronously() == [1, 2, 3]
    [finding] = recording.n_plus_one()
    assert [location.lineno for location in finding.stack] == [
        line_of(calls_synchronously, "synchronous call"),
        line_of(fetch_through_a_wrapper, "wrapper loop: yield"),
        line_of(fetch, "fetch: yield"),
    ]
    assert finding.location == finding.stack[1]


@asynq()
def nested(batch: Any, depth: int) -> Any:
    if depth == 0:
        return (yield batch.item(depth))  # nested: leaf
    return (yield nested.asynq(batch, depth - 1))  # nested: down


@asynq()
def fork(batch: Any, depths: list[int]) -> Any:
    return (yield [nested.asynq(batch, depth) for depth in depths])  # fork: yield


@asynq()
def chain_to_fork(batch: Any, depth: int, depths: list[int]) -> Any:
    if depth == 0:
        return (yield fork.asynq(batch, depths))  # chain: fork
    return (yield chain_to_fork.asynq(batch, depth - 1, depths))  # chain: down


def test_a_deep_chain_keeps_its_innermost_yield_sites(make_batch) -> None:
    batch = make_batch("Users")
    with record() as recording:
        # The second branch reuses what the first learned of the tasks above
        # the fork, and still keeps only the innermost sites of its own stack.
        chain_to_fork(batch, 15, [1, 8])
    [flush] = recording.flushes
    chain_down, chain_fork = (
        line_of(chain_to_fork, "chain: down"),
        line_of(chain_to_fork, "chain: fork"),
    )
    fork_yield = line_of(fork, "fork: yield")
    down, leaf = line_of(nested, "nested: down"), line_of(nested, "nested: leaf")
    assert [[location.lineno for location in stack] for stack in flush.stacks] == [
        [chain_down] * 8 + [chain_fork, fork_yield, down, leaf],
        [chain_down, chain_fork, fork_yield] + [down] * 8 + [leaf],
    ]


# -- assert_max_rounds --------------------------------------------------------------------


def test_assert_max_rounds_passes_within_the_limit(make_batch) -> None:
    first, second = make_batch("first"), make_batch("second")
    with assert_max_rounds(2) as recording:
        assert two_levels(first, second, [1, 2, 3]) == [1, 2, 3]
    assert isinstance(recording, Recording) and recording.rounds == 2


def test_assert_max_rounds_fails_listing_rounds_batches_and_locations(make_batch) -> None:
    users = Batches(make_batch, "users")
    guard = assert_max_rounds(2)
    with pytest.raises(TooManyRoundsError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", NPlusOneWarning)
        with guard:
            fetch_one_by_one(users, [1, 2, 3])
    message = str(raised.value)
    location = (
        f"test_tracing.py:{line_of(fetch_one_by_one, 'one by one: yield')} in fetch_one_by_one"
    )
    lines = message.splitlines()
    assert (
        lines[0]
        == "assert_max_rounds(2): the block took 3 rounds of batch flushes, at most 2 expected"
    )
    assert lines[1] == "rounds:"
    for index in range(3):
        assert lines[2 + index].startswith(f"  round {index}: TinyBatch (1 item from ")
        assert lines[2 + index].endswith(f"{location})")
    assert "batches:\n  TinyBatch: 3 flushes in 3 rounds, 3 items" in message
    assert "code locations that yielded the items (through the yields above them):\n" in message
    assert f"{location}: TinyBatch, 3 items in 3 rounds" in message
    assert "likely cause:\n  N+1 batching: TinyBatch was flushed in 3 rounds" in message
    assert isinstance(raised.value, AssertionError)
    assert guard.recording is not None and guard.recording.rounds == 3


def test_assert_max_rounds_names_the_chain_of_yields(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.raises(TooManyRoundsError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", NPlusOneWarning)
        with assert_max_rounds(1):
            handler(users, [1, 2])
    chain = " -> ".join(
        [
            site(handler, "handler: yield"),
            site(fetch_through_a_wrapper, "wrapper loop: yield"),
            site(fetch, "fetch: yield"),
        ]
    )
    lines = str(raised.value).splitlines()
    assert lines[2] == f"  round 0: TinyBatch (1 item from {chain})"
    assert f"  {chain}: TinyBatch, 2 items in 2 rounds" in lines


def test_assert_max_rounds_cuts_long_lists_of_rounds(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.raises(TooManyRoundsError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", NPlusOneWarning)
        with assert_max_rounds(1):
            fetch_one_by_one(users, list(range(30)))
    lines = str(raised.value).splitlines()
    assert lines[21] == "  round 19: " + lines[21].split(": ", 1)[1]
    assert lines[22] == "  ... and 10 more rounds"


def test_assert_max_rounds_as_a_decorator_checks_each_call(make_batch) -> None:
    users = Batches(make_batch, "users")
    calls = []

    @assert_max_rounds(1)
    def load(keys: list[int]) -> Any:
        calls.append(keys)
        return fetch_one_by_one(users, keys)

    assert load([1]) == [1]
    assert load([2]) == [2]  # rounds of earlier calls do not add up
    with pytest.raises(
        TooManyRoundsError, match=r"assert_max_rounds\(1\): the block took 2 rounds"
    ):
        load([3, 4])
    assert calls == [[1], [2], [3, 4]]


def test_assert_max_rounds_lets_the_blocks_error_through(make_batch) -> None:
    users = Batches(make_batch, "users")
    with pytest.raises(ZeroDivisionError), warnings.catch_warnings():
        warnings.simplefilter("error", NPlusOneWarning)
        with assert_max_rounds(0):
            fetch_one_by_one(users, [1, 2, 3])
            1 / 0


def test_assert_max_rounds_rejects_bad_limits() -> None:
    for bad in (-1, "2", 1.5, True, None):
        with pytest.raises(ValueError, match=rf"assert_max_rounds\(\) takes .* got {bad!r}"):
            assert_max_rounds(bad)  # type: ignore[arg-type]


def test_a_group_with_a_trace_name_is_recorded_under_it(make_batch) -> None:
    batch = make_batch("Users")
    batch.trace_name = "users.get"
    with record() as recording:
        fetch_all(batch, [1, 2])
    assert [flush.batch for flush in recording.flushes] == ["users.get"]
    assert "users.get" in recording.summary()
