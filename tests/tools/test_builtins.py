"""amap, afilter, afilterfalse, asorted, amax, amin, asift: like their builtin
models, with every call of their function in the same scheduler round (so
the lookups of all elements are flushed as one batch)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynq_core import asynq
from asynq_tools import afilter, afilterfalse, amap, amax, amin, asift, asorted


@pytest.fixture
def lookup(store: Any) -> Any:
    """An async function fetching ``key * 2`` from the batching store."""

    @asynq()
    def double(key: int) -> Any:
        return (yield store.get(key))

    return double


# -- amap -------------------------------------------------------------------


def test_amap_maps_in_order_with_one_flush(store: Any, lookup: Any) -> None:
    assert amap(lookup, range(10)) == [key * 2 for key in range(10)]
    assert store.flushes == [list(range(10))]


def test_amap_inside_a_task_batches_with_the_other_tasks(store: Any, lookup: Any) -> None:
    @asynq()
    def main() -> Any:
        return (yield amap.asynq(lookup, [1, 2]), lookup.asynq(3))

    assert main() == ([2, 4], 6)
    assert store.flushes == [[1, 2, 3]]


def test_amap_of_an_empty_sequence() -> None:
    assert amap(str, []) == []


def test_amap_accepts_any_iterable_and_several_sequences(store: Any, lookup: Any) -> None:
    @asynq()
    def add(a: int, b: int) -> Any:
        doubled = yield lookup.asynq(a)
        return doubled + b

    assert amap(lookup, (key for key in [3, 4])) == [6, 8]
    assert amap(add, [1, 2, 3], [10, 20]) == [12, 24]  # shortest, like map


def test_amap_with_a_plain_function() -> None:
    assert amap(str.upper, ["a", "b"]) == ["A", "B"]


def test_amap_with_a_pure_async_function(store: Any) -> None:
    @asynq(pure=True)
    def pure(key: int) -> Any:
        return (yield store.get(key))

    assert amap(pure, [1, 2, 3]) == [2, 4, 6]
    assert store.flushes == [[1, 2, 3]]


def test_amap_finishes_every_element_before_raising_the_first_error(store: Any) -> None:
    done: list[int] = []

    @asynq()
    def fragile(key: int) -> Any:
        value = yield store.get(key)
        if key % 2:
            raise ValueError(f"odd {key}")
        done.append(key)
        return value

    with pytest.raises(ValueError, match="odd 1"):
        amap(fragile, [0, 1, 2, 3, 4])
    assert sorted(done) == [0, 2, 4]


def test_amap_with_a_failing_plain_function_still_calls_it_for_every_element() -> None:
    called: list[int] = []

    def fragile(key: int) -> int:
        called.append(key)
        return 10 // key

    with pytest.raises(ZeroDivisionError):
        amap(fragile, [1, 0, 2])
    assert called == [1, 0, 2]


def test_amap_rejects_what_is_not_a_function() -> None:
    with pytest.raises(TypeError, match=r"amap\(\) needs a function, got 3"):
        amap(3, [1])


# -- afilter, afilterfalse, asift ---------------------------------------------------


def test_afilter_and_afilterfalse_split_like_the_builtins(store: Any) -> None:
    @asynq()
    def is_big(key: int) -> Any:
        value = yield store.get(key)
        return value > 10

    keys = [3, 8, 1, 9, 5, 6]
    assert afilter(is_big, keys) == [8, 9, 6]
    assert afilterfalse(is_big, keys) == [3, 1, 5]
    assert store.flushes == [keys, keys]


def test_afilter_with_none_keeps_truthy_items() -> None:
    items = [0, 1, "", "a", None, [], [0]]
    assert afilter(None, items) == list(filter(None, items))
    assert afilterfalse(None, items) == list(itertools.filterfalse(None, items))


def test_asift_splits_into_yes_and_no_in_order(store: Any) -> None:
    @asynq()
    def is_even_double_over_4(key: int) -> Any:
        value = yield store.get(key)
        return value > 4 and key % 2 == 0

    assert asift(is_even_double_over_4, range(8)) == ([4, 6], [0, 1, 2, 3, 5, 7])
    assert store.flushes == [list(range(8))]


def test_afilter_rejects_what_is_not_a_function() -> None:
    with pytest.raises(TypeError, match=r"afilter\(\) needs a function, got 'x'"):
        afilter("x", [1])


# -- asorted ---------------------------------------------------------------------


def test_asorted_with_an_async_key_in_one_flush(store: Any, lookup: Any) -> None:
    @asynq()
    def negated(key: int) -> Any:
        value = yield lookup.asynq(key)
        return -value

    assert asorted([3, 1, 2], key=negated) == [3, 2, 1]
    assert store.flushes == [[3, 1, 2]]


def test_asorted_without_key_and_reverse() -> None:
    assert asorted([3, 1, 2]) == [1, 2, 3]
    assert asorted([3, 1, 2], reverse=True) == [3, 2, 1]
    assert asorted(iter("cab")) == ["a", "b", "c"]


def test_asorted_is_stable_also_in_reverse(store: Any) -> None:
    @asynq()
    def first_letter(word: str) -> Any:
        yield store.get(1)
        return word[0]

    words = ["bob", "alice", "bill", "anna", "carl", "ben"]
    assert asorted(words, key=first_letter) == ["alice", "anna", "bob", "bill", "ben", "carl"]
    assert asorted(words, key=first_letter, reverse=True) == [
        "carl",
        "bob",
        "bill",
        "ben",
        "alice",
        "anna",
    ]


def test_asorted_never_compares_the_items_themselves() -> None:
    class Opaque:
        def __init__(self, rank: int) -> None:
            self.rank = rank

    @asynq()
    def rank(item: Opaque) -> Any:
        return item.rank

    items = [Opaque(2), Opaque(1), Opaque(2)]
    assert asorted(items, key=rank) == [items[1], items[0], items[2]]


@given(
    st.lists(st.tuples(st.integers(-3, 3), st.integers())),
    st.booleans(),
)
def test_asorted_matches_sorted(items: list[tuple[int, int]], reverse: bool) -> None:
    @asynq()
    def first(item: tuple[int, int]) -> Any:
        return item[0]
        yield  # an async key

    def sync_first(item: tuple[int, int]) -> int:
        return item[0]

    assert asorted(items, key=first, reverse=reverse) == sorted(
        items, key=sync_first, reverse=reverse
    )


# -- amax, amin ----------------------------------------------------------------------


def test_amax_and_amin_with_an_async_key_in_one_flush(store: Any, lookup: Any) -> None:
    @asynq()
    def distance_to_10(key: int) -> Any:
        value = yield lookup.asynq(key)
        return abs(value - 10)

    # doubles 2, 10, 14: distances 8, 0, 4
    assert amax([1, 5, 7], key=distance_to_10) == 1
    assert amin([1, 5, 7], key=distance_to_10) == 5
    assert store.flushes == [[1, 5, 7], [1, 5, 7]]


def test_amax_and_amin_take_several_arguments_or_one_iterable() -> None:
    assert amax(3, 7, 5) == 7
    assert amin(3, 7, 5) == 3
    assert amax([3, 7, 5]) == 7
    assert amin(iter([3, 7, 5])) == 3
    assert amax("b", "a", key=str.upper) == "b"


def test_amax_and_amin_return_the_first_of_equal_items() -> None:
    @asynq()
    def length(word: str) -> Any:
        return len(word)

    words = ["aa", "bb", "c", "d"]
    assert amax(words, key=length) == "aa" == max(words, key=len)
    assert amin(words, key=length) == "c" == min(words, key=len)


def test_amax_and_amin_default_for_an_empty_iterable() -> None:
    assert amax([], default="none") == "none"
    assert amin([], key=len, default=0) == 0
    assert amax([4], default=0) == 4


def test_amax_and_amin_fail_like_the_builtins() -> None:
    with pytest.raises(ValueError, match="amax"):
        amax([])
    with pytest.raises(ValueError, match="amin"):
        amin([], key=len)
    with pytest.raises(TypeError, match="at least 1 argument"):
        amax()
    with pytest.raises(TypeError, match="Cannot specify a default"):
        amin(1, 2, default=0)
    with pytest.raises(TypeError, match="not iterable"):
        amax(5)
    with pytest.raises(TypeError, match=r"amin\(\) needs a function, got 3"):
        amin([1, 2], key=3)


@given(st.lists(st.integers(-5, 5)), st.integers(-5, 5))
def test_amax_and_amin_match_the_builtins(items: list[int], default: int) -> None:
    @asynq()
    def square(value: int) -> Any:
        return value * value
        yield  # an async key

    def sync_square(value: int) -> int:
        return value * value

    for tool, builtin in ((amax, max), (amin, min)):
        assert tool(items, key=square, default=default) == builtin(
            items, key=sync_square, default=default
        )
        if items:
            assert tool(*items, 0, key=square) == builtin(*items, 0, key=sync_square)
