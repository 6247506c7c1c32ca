"""The order tasks run in and the number of flushes, as a 1.6 code base observes them:
depth-first, the first yielded dependency first, a flush only when no task can go on."""

from __future__ import annotations

from typing import Any

import compat_app as app

from asynq import asynq
from asynq.debug import sync

log: list[str] = []


@asynq()
def leaf(name: str) -> Any:
    log.append(name)
    return name
    yield


@asynq()
def node(name: str, children: int) -> Any:
    log.append(f"start {name}")
    values = yield [leaf.asynq(f"{name}.{i}") for i in range(children)]
    log.append(f"end {name}")
    return values


def test_depth_first_and_first_dependency_first() -> None:
    log.clear()

    @asynq()
    def root() -> Any:
        log.append("start root")
        a, b = yield node.asynq("a", 2), node.asynq("b", 2)
        log.append("end root")
        return a + b

    assert root() == ["a.0", "a.1", "b.0", "b.1"]
    assert log == [
        "start root",
        "start a",
        "a.0",
        "a.1",
        "end a",
        "start b",
        "b.0",
        "b.1",
        "end b",
        "end root",
    ]


def test_dict_values_run_last_to_first_and_lists_first_to_last_as_in_1x() -> None:
    log.clear()

    @asynq()
    def root() -> Any:
        return (
            yield {
                "x": leaf.asynq("x"),
                "nested": [leaf.asynq("n0"), (leaf.asynq("n1"), None)],
                "y": leaf.asynq("y"),
            }
        )

    assert root() == {"x": "x", "nested": ["n0", ("n1", None)], "y": "y"}
    assert log == ["y", "n0", "n1", "x"]


@asynq()
def waits_for_a_flush(name: str) -> Any:
    log.append(f"start {name}")
    yield sync()
    log.append(f"end {name}")
    return name


def test_every_task_runs_until_it_waits_before_a_flush() -> None:
    log.clear()

    @asynq()
    def parent(name: str) -> Any:
        log.append(f"start {name}")
        values = yield waits_for_a_flush.asynq(f"{name}.0"), waits_for_a_flush.asynq(f"{name}.1")
        log.append(f"end {name}")
        return values

    @asynq()
    def root() -> Any:
        return (yield parent.asynq("a"), parent.asynq("b"))

    assert root() == (("a.0", "a.1"), ("b.0", "b.1"))
    before_flush = log[:6]
    assert before_flush == [
        "start a",
        "start a.0",
        "start a.1",
        "start b",
        "start b.0",
        "start b.1",
    ]
    after_flush = log[6:]
    assert sorted(after_flush) == sorted(
        ["end a", "end a.0", "end a.1", "end b", "end b.0", "end b.1"]
    )
    for name in ("a", "b"):
        for child in (f"{name}.0", f"{name}.1"):
            assert after_flush.index(f"end {child}") < after_flush.index(f"end {name}")


def test_one_flush_per_level_of_dependent_lookups() -> None:
    # Chains of three lookups each: user -> best answer -> its question.
    for uid in range(5):
        app.store.data[f"best:{uid}"] = f"ans{uid}"
        app.store.data[f"question_of:ans{uid}"] = f"q{uid}"
        app.store.data[f"title:q{uid}"] = f"title {uid}"

    @asynq()
    def title_of_best_question(uid: int) -> Any:
        answer = yield app.mc_get.asynq(f"best:{uid}")
        question = yield app.mc_get.asynq(f"question_of:{answer}")
        return (yield app.mc_get.asynq(f"title:{question}"))

    @asynq()
    def titles() -> Any:
        return (yield [title_of_best_question.asynq(uid) for uid in range(5)])

    assert titles() == [f"title {uid}" for uid in range(5)]
    assert app.MemcacheBatch.flush_count == 3
    assert [len(keys) for _, keys in app.store.requests] == [5, 5, 5]


def test_a_batch_no_task_waits_on_is_not_flushed() -> None:
    @asynq()
    def compute() -> Any:
        app.MemcacheBatchItem("get", "unused")  # created, never waited on
        return "".join((yield [leaf.asynq(str(i)) for i in range(3)]))

    assert compute() == "012"
    assert app.MemcacheBatch.flush_count == 0
    assert len(app._active_batch.items) == 1


def test_a_synchronous_call_inside_a_task_flushes_what_it_needs_at_once() -> None:
    app.seed_answers(3)

    @asynq()
    def page() -> Any:
        first = app.author_of_answer(0)  # synchronous: needs its own flush
        rest = yield [app.author_of_answer.asynq(1), app.author_of_answer.asynq(2)]
        return [first, *rest]

    assert page() == [100, 101, 102]
    assert app.MemcacheBatch.flush_count == 2
    assert [keys for _, keys in app.store.requests] == [
        ["answer:0:author"],
        ["answer:1:author", "answer:2:author"],
    ]
