"""async_generator, Value, list_of_generator, take_first and END_OF_GENERATOR."""

from __future__ import annotations

import decimal
import pickle
from typing import Any

import pytest
import qcore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asynq_generator
from asynq_core import AsyncTask, ConstFuture, FutureBase, asynq, result
from asynq_generator import (
    END_OF_GENERATOR,
    AsyncGeneratorIterator,
    Value,
    async_generator,
    list_of_generator,
    take_first,
)
from asynq_generator import generator as generator_module


def test_package_reexports_the_generator_module() -> None:
    for name in generator_module.__all__:
        assert getattr(asynq_generator, name) is getattr(generator_module, name)
    assert asynq_generator.generator is generator_module


# -- producing and consuming -------------------------------------------------


def test_one_future_per_value_then_the_iteration_stops(fetch: Any) -> None:
    @async_generator()
    def tens(keys: list[int]) -> Any:
        for key in keys:
            value = yield fetch.asynq(key)
            yield Value(value)

    steps = tens([1, 2])
    assert isinstance(steps, AsyncGeneratorIterator)
    assert iter(steps) is steps
    first = next(steps)
    assert isinstance(first, AsyncTask)
    assert first.value() == 10
    assert next(steps).value() == 20
    # next() finds the generator's end at once: no step for it (as in asynq 1.x).
    with pytest.raises(StopIteration):
        next(steps)
    with pytest.raises(StopIteration):
        next(steps)


def test_async_work_after_the_last_value_makes_a_trailing_end_of_generator_step(
    fetch: Any,
) -> None:
    @async_generator()
    def then_more(key: int) -> Any:
        yield Value((yield fetch.asynq(key)))
        yield fetch.asynq(key + 1)

    steps = then_more(1)
    assert next(steps).value() == 10
    assert next(steps).value() is END_OF_GENERATOR
    with pytest.raises(StopIteration):
        next(steps)
    assert list_of_generator(then_more(1)) == [10]  # consumers skip it


def test_a_value_yielded_before_any_async_work_is_a_computed_step() -> None:
    @async_generator()
    def constant() -> Any:
        yield Value("ready")

    step = next(constant())
    assert isinstance(step, ConstFuture)
    assert step.value() == "ready"


def test_a_generator_without_values_produces_no_step() -> None:
    ran = []

    @async_generator()
    def nothing() -> Any:
        ran.append(True)
        return
        yield

    assert list(nothing()) == []
    assert ran == [True]


def test_an_error_before_the_first_yield_is_raised_by_next() -> None:
    @async_generator()
    def broken() -> Any:
        raise KeyError("at the start")
        yield

    steps = broken()
    with pytest.raises(KeyError, match="at the start"):
        next(steps)
    with pytest.raises(StopIteration):
        next(steps)


def test_list_of_generator_collects_every_value_inside_a_task(fetch: Any) -> None:
    @async_generator()
    def doubled(keys: list[int]) -> Any:
        for key in keys:
            value = yield fetch.asynq(key)
            yield Value(value * 2)

    @asynq()
    def caller() -> Any:
        values = yield list_of_generator.asynq(doubled([1, 2, 3]))
        return values

    assert caller() == [20, 40, 60]
    assert list_of_generator(doubled([])) == []


def test_values_need_not_involve_async_work() -> None:
    @async_generator()
    def count(n: int) -> Any:
        for i in range(n):
            yield Value(i)

    assert list_of_generator(count(4)) == [0, 1, 2, 3]


def test_a_value_may_be_any_object_including_none_and_futures() -> None:
    future = ConstFuture(5)

    @async_generator()
    def odd_values() -> Any:
        yield Value(None)
        yield Value(future)
        yield Value([1, 2])

    assert list_of_generator(odd_values()) == [None, future, [1, 2]]


def test_the_generator_receives_values_of_yielded_structures(fetch: Any) -> None:
    @async_generator()
    def shapes() -> Any:
        pair = yield fetch.asynq(1), fetch.asynq(2)
        mapping = yield {"a": fetch.asynq(3), "none": None}
        nothing = yield None
        yield Value((pair, mapping, nothing))

    assert list_of_generator(shapes()) == [((10, 20), {"a": 30, "none": None}, None)]


def test_next_runs_the_generator_up_to_its_first_yield_only(store: Any, fetch: Any) -> None:
    log = []

    @async_generator()
    def logged() -> Any:
        log.append("started")
        value = yield fetch.asynq(1)
        log.append("got it")
        yield Value(value)

    steps = logged()
    assert log == []
    step = next(steps)
    assert log == ["started"]
    assert store.flushes == []  # what it yielded runs when the step is waited for
    assert step.value() == 10
    assert log == ["started", "got it"]


def test_steps_are_consumed_synchronously_outside_any_task(fetch: Any) -> None:
    @async_generator()
    def pairs() -> Any:
        for key in (1, 2):
            yield Value((yield fetch.asynq(key)))

    assert [step.value() for step in pairs()] == [10, 20]


def test_works_on_methods_and_passes_self(fetch: Any) -> None:
    class Reader:
        def __init__(self, keys: list[int]) -> None:
            self.keys = keys

        @async_generator()
        def read(self, offset: int) -> Any:
            for key in self.keys:
                yield Value((yield fetch.asynq(key)) + offset)

        @async_generator()
        @staticmethod
        def constant(value: int) -> Any:
            yield Value(value)

        @async_generator()
        @classmethod
        def name(cls) -> Any:
            yield Value(cls.__name__)

    reader = Reader([1, 2])
    assert list_of_generator(reader.read(1)) == [11, 21]
    assert list_of_generator(Reader.constant(7)) == [7]
    assert list_of_generator(reader.constant(8)) == [8]
    assert list_of_generator(Reader.name()) == ["Reader"]
    assert Reader.read.__name__ == "read"


# -- batching ----------------------------------------------------------------


def test_the_async_work_of_one_step_is_one_flush(store: Any, fetch: Any) -> None:
    @async_generator()
    def sums(groups: list[list[int]]) -> Any:
        for keys in groups:
            values = yield [fetch.asynq(key) for key in keys]
            yield Value(sum(values))

    assert list_of_generator(sums([[1, 2, 3], [4, 5]])) == [60, 90]
    assert store.flushes == [[1, 2, 3], [4, 5]]


def test_steps_of_generators_advanced_together_share_their_batches(store: Any, fetch: Any) -> None:
    @async_generator()
    def read(keys: list[int]) -> Any:
        for key in keys:
            yield Value((yield fetch.asynq(key)))

    @asynq()
    def zip_both() -> Any:
        left, right = read([1, 2]), read([3, 4])
        pairs = []
        while True:
            try:
                steps = next(left), next(right)
            except StopIteration:
                return pairs
            pairs.append((yield steps))

    assert zip_both() == [(10, 30), (20, 40)]
    assert store.flushes == [[1, 3], [2, 4]]


def test_a_step_runs_alongside_other_tasks_yielded_with_it(store: Any, fetch: Any) -> None:
    @async_generator()
    def read(keys: list[int]) -> Any:
        for key in keys:
            yield Value((yield fetch.asynq(key)))

    @asynq()
    def caller() -> Any:
        steps = read([1])
        value, other = yield next(steps), fetch.asynq(2)
        return value, other

    assert caller() == (10, 20)
    assert store.flushes == [[1, 2]]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=50), max_size=4), max_size=5))
def test_list_of_generator_matches_the_plain_computation(
    make_store: Any, groups: list[list[int]]
) -> None:
    store = make_store()  # one per example: hypothesis runs many per test call

    @asynq()
    def fetch(key: int) -> Any:
        return (yield store.item(key))

    @async_generator()
    def per_group() -> Any:
        for keys in groups:
            values = yield [fetch.asynq(key) for key in keys]
            yield Value(values)

    assert list_of_generator(per_group()) == [[key * 10 for key in keys] for keys in groups]
    # One flush per step that read anything, each with exactly that step's keys.
    assert store.flushes == [keys for keys in groups if keys]


# -- advancing too early -----------------------------------------------------


def test_advancing_before_the_previous_step_is_computed_raises(fetch: Any) -> None:
    @async_generator()
    def read() -> Any:
        yield Value((yield fetch.asynq(1)))
        yield Value((yield fetch.asynq(2)))

    steps = read()
    first = next(steps)
    with pytest.raises(RuntimeError, match=r"read\(\).*before step 1 .* was computed"):
        next(steps)
    # The refused call changed nothing: the sequence goes on once step 1 is done.
    assert first.value() == 10
    assert next(steps).value() == 20


def test_advancing_from_inside_the_running_step_raises() -> None:
    holder: dict[str, Any] = {}

    @async_generator()
    def reentrant() -> Any:
        next(holder["steps"])
        yield Value(1)

    holder["steps"] = steps = reentrant()
    with pytest.raises(RuntimeError, match=r"reentrant\(\).*inside the generator itself"):
        next(steps)
    with pytest.raises(StopIteration):
        next(steps)


# -- take_first ----------------------------------------------------------------


def test_take_first_stops_after_n_values_and_runs_no_further_step(store: Any, fetch: Any) -> None:
    log = []

    @async_generator()
    def read(keys: list[int]) -> Any:
        for key in keys:
            log.append(key)
            yield Value((yield fetch.asynq(key)))

    steps = read([1, 2, 3, 4])
    assert take_first(steps, 2) == [10, 20]
    assert log == [1, 2]
    assert store.flushes == [[1], [2]]
    # The iterator goes on where take_first left it.
    assert list_of_generator(steps) == [30, 40]


def test_take_first_returns_fewer_values_when_the_generator_ends_first(fetch: Any) -> None:
    @async_generator()
    def read(keys: list[int]) -> Any:
        for key in keys:
            yield Value((yield fetch.asynq(key)))

    assert take_first(read([1, 2]), 5) == [10, 20]
    assert take_first(read([]), 1) == []


def test_take_first_zero_does_not_start_the_generator() -> None:
    log = []

    @async_generator()
    def logged() -> Any:
        log.append("ran")
        yield Value(1)

    steps = logged()
    assert take_first(steps, 0) == []
    assert log == []
    assert list_of_generator(steps) == [1]


def test_take_first_rejects_a_count_that_is_not_a_number_at_the_first_item() -> None:
    @async_generator()
    def one() -> Any:
        yield Value(1)

    # asynq 1.x fails when it counts the first item: with none, nothing fails.
    assert take_first(iter([]), "2") == []  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"take_first\(\): n must be an int, got '2'"):
        take_first(one(), "2")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "expected"),
    [(True, [1]), (2.0, [1, 2]), (decimal.Decimal(1), [1]), (-1, [1, 2, 3]), (1.5, [1, 2, 3])],
)
def test_take_first_takes_any_number_as_asynq_1x(n: Any, expected: list[int]) -> None:
    # A count that is negative or not whole is never reached: no limit.
    @async_generator()
    def three() -> Any:
        yield Value(1)
        yield ConstFuture(0)  # a step with async work
        yield Value(2)
        yield Value(3)

    assert take_first(three(), n) == expected


# -- errors ------------------------------------------------------------------------


def test_a_failed_dependency_is_raised_at_the_generators_yield(store: Any, fetch: Any) -> None:
    store.missing.add(2)

    @async_generator()
    def tolerant(keys: list[int]) -> Any:
        for key in keys:
            try:
                value = yield fetch.asynq(key)
            except KeyError as error:
                value = f"missing {error.args[0]}"
            yield Value(value)

    assert list_of_generator(tolerant([1, 2, 3])) == [10, "missing 2", 30]


def test_an_uncaught_error_fails_its_step_and_ends_the_iterator(store: Any, fetch: Any) -> None:
    store.missing.add(2)
    finished = []

    @async_generator()
    def strict(keys: list[int]) -> Any:
        try:
            for key in keys:
                yield Value((yield fetch.asynq(key)))
        finally:
            finished.append(True)

    steps = strict([1, 2, 3])
    assert next(steps).value() == 10
    failing = next(steps)
    with pytest.raises(KeyError):
        failing.value()
    assert isinstance(failing.error(), KeyError)
    assert finished == [True]
    with pytest.raises(StopIteration):
        next(steps)
    assert store.flushes == [[1], [2]]


def test_list_of_generator_raises_the_error_of_a_step(store: Any, fetch: Any) -> None:
    store.missing.add(1)

    @async_generator()
    def read() -> Any:
        yield Value((yield fetch.asynq(1)))

    @asynq()
    def caller() -> Any:
        try:
            yield list_of_generator.asynq(read())
        except KeyError:
            return "caught at the yield"

    assert caller() == "caught at the yield"


def test_an_error_raised_by_the_generator_body_fails_the_step() -> None:
    @async_generator()
    def broken() -> Any:
        yield Value(1)
        raise ValueError("bad item")

    steps = broken()
    assert next(steps).value() == 1
    with pytest.raises(ValueError, match="bad item"):
        next(steps).value()
    assert list(steps) == []


def test_yielding_something_that_is_not_a_future_is_raised_inside_the_generator() -> None:
    seen = []

    @async_generator()
    def confused() -> Any:
        try:
            yield 42
        except TypeError as error:
            seen.append(str(error))
        yield Value("recovered")

    assert list_of_generator(confused()) == ["recovered"]
    assert "int" in seen[0]


def test_a_value_inside_a_structure_is_not_an_item() -> None:
    @async_generator()
    def nested() -> Any:
        yield [Value(1)]

    with pytest.raises(TypeError, match="Value"):
        list_of_generator(nested())


def test_result_inside_an_async_generator_is_refused() -> None:
    @async_generator()
    def legacy() -> Any:
        yield Value(1)
        result(2)

    steps = legacy()
    assert next(steps).value() == 1
    with pytest.raises(TypeError, match=r"legacy called result\(\) inside an async generator"):
        next(steps).value()


def test_close_ends_the_sequence_and_runs_the_generators_cleanup() -> None:
    cleaned = []

    @async_generator()
    def infinite() -> Any:
        try:
            i = 0
            while True:
                yield Value(i)
                i += 1
        finally:
            cleaned.append(True)

    steps = infinite()
    assert take_first(steps, 3) == [0, 1, 2]
    steps.close()
    assert cleaned == [True]
    with pytest.raises(StopIteration):
        next(steps)


# -- bad input -----------------------------------------------------------------------


def test_async_generator_needs_a_function_returning_a_generator() -> None:
    def plain() -> int:
        return 1

    @async_generator()
    def delegating(limit: int) -> Any:  # checks its argument at once, as 1.x allows
        if limit < 0:
            raise ValueError("limit")
        return counting(limit)

    def counting(limit: int) -> Any:
        for value in range(limit):
            yield Value(value)

    assert list_of_generator(delegating(2)) == [0, 1]
    with pytest.raises(ValueError, match="limit"):
        delegating(-1)
    # As in asynq 1.x, the decoration is accepted, and the call fails.
    not_a_generator = async_generator()(plain)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"@async_generator\(\) needs a generator function.*plain returned 1"
    ):
        not_a_generator()


def test_list_of_generator_takes_what_a_task_may_yield() -> None:
    steps = iter([ConstFuture(1), None, [ConstFuture(2), None], {"a": ConstFuture(3)}])
    assert list_of_generator(steps) == [1, None, [2, None], {"a": 3}]


def test_async_generator_without_parentheses_is_explained() -> None:
    def gen() -> Any:
        yield Value(1)

    with pytest.raises(TypeError, match=r"write @async_generator\(\) with parentheses"):
        async_generator(gen)


def test_list_of_generator_needs_an_iterator_of_futures() -> None:
    with pytest.raises(TypeError, match=r"list_of_generator\(\) takes the iterator.*got 5"):
        list_of_generator(5)
    with pytest.raises(TypeError, match=r"list_of_generator\(\): the generator produced 1, not"):
        list_of_generator(iter([1, 2]))
    with pytest.raises(TypeError, match=r"take_first\(\): the generator produced 'x', not"):
        take_first(iter(["x"]), 1)


def test_list_of_generator_accepts_any_iterable_of_futures() -> None:
    futures: list[FutureBase[Any]] = [ConstFuture(1), ConstFuture(2), ConstFuture(END_OF_GENERATOR)]
    assert list_of_generator(iter(futures)) == [1, 2]
    assert take_first(futures, 1) == [1]


# -- the small pieces ------------------------------------------------------------------


def test_value_and_end_of_generator_show_themselves() -> None:
    assert repr(Value(3)) == "<Value: 3>"  # as asynq 1.x shows them
    assert Value("x").value == "x"
    assert repr(END_OF_GENERATOR) == str(END_OF_GENERATOR) == "end of generator"
    assert isinstance(END_OF_GENERATOR, qcore.MarkerObject)
    assert pickle.loads(pickle.dumps(END_OF_GENERATOR)) is END_OF_GENERATOR


def test_iterator_repr_names_the_generator_and_its_progress() -> None:
    @async_generator()
    def numbers(n: int) -> Any:
        for i in range(n):
            yield Value(i)

    steps = numbers(1)
    assert repr(steps).startswith("<async generator ")
    assert repr(steps).endswith(".numbers(1) (0 steps taken)>")
    next(steps).value()
    assert repr(steps).endswith(".numbers(1) (1 step taken)>")
    with pytest.raises(StopIteration):
        next(steps)
    assert repr(steps).endswith(".numbers(1) (finished)>")
