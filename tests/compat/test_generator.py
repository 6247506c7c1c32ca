"""asynq.generator as 1.6 code uses it: a feed produced lazily, each item needing lookups."""

from __future__ import annotations

from typing import Any

import compat_app as app
import pytest

from asynq import END_OF_GENERATOR, Value, async_generator, asynq, list_of_generator, take_first


@async_generator()
def author_names_feed(aids: list[int]) -> Any:
    for aid in aids:
        uid = yield app.author_of_answer.asynq(aid)
        if uid is None:
            continue  # answers without an author are skipped
        name = yield app.name_of_user.asynq(uid)
        yield Value(name)


def test_list_of_generator_collects_every_value() -> None:
    app.seed_answers(3)
    del app.store.data["answer:1:author"]
    assert list_of_generator(author_names_feed([0, 1, 2])) == ["user0", "user2"]


def test_take_first_runs_no_step_beyond_the_last_item_it_needs() -> None:
    app.seed_answers(5)
    assert take_first(author_names_feed(list(range(5))), 2) == ["user0", "user1"]
    assert "author_of_answer(2)" not in app.calls


@asynq()
def consume_by_hand(aids: list[int]) -> Any:
    values = []
    for step in author_names_feed(aids):
        value = yield step
        values.append(value)
    return values


def test_steps_consumed_by_hand_stop_when_the_generator_ends() -> None:
    app.seed_answers(2)
    assert consume_by_hand([0, 1]) == ["user0", "user1"]


def test_async_work_after_the_last_value_gives_a_trailing_end_of_generator() -> None:
    app.seed_answers(3)
    del app.store.data["answer:2:author"]
    assert consume_by_hand([0, 1, 2]) == ["user0", "user1", END_OF_GENERATOR]


def test_two_feeds_advanced_together_share_their_batches() -> None:
    app.seed_answers(4)

    @asynq()
    def both() -> Any:
        return (
            yield (
                list_of_generator.asynq(author_names_feed([0, 1])),
                list_of_generator.asynq(author_names_feed([2, 3])),
            )
        )

    assert both() == (["user0", "user1"], ["user2", "user3"])
    # two lookups per item, two items per feed, the feeds' steps side by side
    assert app.MemcacheBatch.flush_count == 4
    assert all(len(keys) == 2 for _, keys in app.store.requests)


def test_advancing_before_the_previous_step_is_computed_is_an_error() -> None:
    app.seed_answers(2)
    steps = author_names_feed([0, 1])
    next(steps)
    with pytest.raises(RuntimeError, match="before step 1"):
        next(steps)
