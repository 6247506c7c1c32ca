"""AsyncTask: what a task may yield, what it gets back, errors, order, introspection."""

from __future__ import annotations

import traceback
from collections import OrderedDict, namedtuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynq_core import (
    AsyncTask,
    AsyncTaskCancelledError,
    AsyncTaskError,
    ConstFuture,
    ErrorFuture,
    Future,
    asynq,
    get_active_task,
    none_future,
    result,
)


@asynq()
def identity(value: Any) -> Any:
    return value


@asynq()
def fail_with(error: BaseException) -> Any:
    raise error


@asynq()
def double_later(x: int) -> Any:
    yield None
    return x * 2


def test_yield_none_resumes_with_none() -> None:
    @asynq()
    def task() -> Any:
        first = yield None
        second = yield None
        return (first, second, "done")

    assert task() == (None, None, "done")


def test_yield_a_future_resumes_with_its_value() -> None:
    @asynq()
    def task() -> Any:
        a = yield ConstFuture(1)
        b = yield Future(lambda: 2)
        c = yield double_later.asynq(3)
        d = yield none_future
        return a, b, c, d

    assert task() == (1, 2, 6, None)


def test_yielded_structures_come_back_with_values_in_place() -> None:
    @asynq()
    def task() -> Any:
        as_list = yield [double_later.asynq(1), ConstFuture("c"), None]
        as_tuple = yield (double_later.asynq(2), identity.asynq("i"))
        as_dict = yield {"x": double_later.asynq(3), "none": None, "const": ConstFuture(0)}
        nested = yield {
            "list": [double_later.asynq(4), (identity.asynq(5), None)],
            "dict": {"deep": [double_later.asynq(6)]},
            "tuple": (),
        }
        empty = yield [], (), {}
        return as_list, as_tuple, as_dict, nested, empty

    as_list, as_tuple, as_dict, nested, empty = task()
    assert as_list == [2, "c", None]
    assert type(as_list) is list
    assert as_tuple == (4, "i")
    assert type(as_tuple) is tuple
    assert as_dict == {"x": 6, "none": None, "const": 0}
    assert list(as_dict) == ["x", "none", "const"]
    assert nested == {"list": [8, (5, None)], "dict": {"deep": [12]}, "tuple": ()}
    assert type(nested["list"][1]) is tuple
    assert empty == ([], (), {})


# A yielded structure described as data: leaves are None or (kind, number).
leaves = st.none() | st.tuples(st.sampled_from(["const", "task", "lazy", "slow"]), st.integers())
structures = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)


def build(spec: Any) -> tuple[Any, Any]:
    """(what to yield, the value expected back) for a structure spec."""
    if spec is None:
        return None, None
    if isinstance(spec, list):
        pairs = [build(item) for item in spec]
        return [y for y, _ in pairs], [e for _, e in pairs]
    if isinstance(spec, dict):
        pairs = {key: build(item) for key, item in spec.items()}
        return {k: y for k, (y, _) in pairs.items()}, {k: e for k, (_, e) in pairs.items()}
    if isinstance(spec, tuple) and (len(spec) != 2 or not isinstance(spec[0], str)):
        pairs = [build(item) for item in spec]
        return tuple(y for y, _ in pairs), tuple(e for _, e in pairs)
    kind, number = spec
    if kind == "const":
        return ConstFuture(number), number
    if kind == "task":
        return identity.asynq(number), number
    if kind == "lazy":
        return Future(lambda: number), number
    return double_later.asynq(number), number * 2


@settings(max_examples=150, deadline=None)
@given(structures)
def test_any_nested_structure_comes_back_with_values_in_place(spec: Any) -> None:
    @asynq()
    def task() -> Any:
        yielded, expected = build(spec)
        received = yield yielded
        return received, expected

    received, expected = task()
    assert received == expected
    assert type(received) is type(expected)


def test_subclasses_of_list_tuple_and_dict_may_be_yielded() -> None:
    class MyList(list):  # type: ignore[type-arg]
        pass

    Pair = namedtuple("Pair", ["left", "right"])

    @asynq()
    def task() -> Any:
        as_list = yield MyList([identity.asynq(1), None])
        as_pair = yield Pair(identity.asynq("l"), double_later.asynq(1))
        as_ordered = yield OrderedDict([("b", identity.asynq(2)), ("a", None)])
        return as_list, as_pair, as_ordered

    as_list, as_pair, as_ordered = task()
    assert as_list == [1, None]
    assert isinstance(as_list, list)
    assert as_pair == ("l", 2)
    assert isinstance(as_pair, tuple)
    assert as_ordered == {"b": 2, "a": None}
    assert list(as_ordered) == ["b", "a"]


def test_the_same_task_yielded_twice_runs_once() -> None:
    runs = []

    @asynq()
    def counted() -> Any:
        runs.append(1)
        yield None
        return "v"

    @asynq()
    def task() -> Any:
        shared = counted.asynq()
        values = yield [shared, shared, {"again": shared}]
        again = yield shared
        return values, again

    assert task() == (["v", "v", {"again": "v"}], "v")
    assert runs == [1]


def test_tasks_waited_on_by_several_tasks_run_once_and_wake_them_all() -> None:
    runs = []

    @asynq()
    def shared_work() -> Any:
        runs.append("shared")
        yield None
        return 10

    @asynq()
    def user(shared: AsyncTask[int], offset: int) -> Any:
        value = yield shared
        return value + offset

    @asynq()
    def task() -> Any:
        shared = shared_work.asynq()
        return (yield [user.asynq(shared, 1), user.asynq(shared, 2), user.asynq(shared, 3)])

    assert task() == [11, 12, 13]
    assert runs == ["shared"]


def test_an_error_in_one_sibling_does_not_stop_the_others() -> None:
    finished = []

    @asynq()
    def work(name: str, fail: bool) -> Any:
        yield None
        if fail:
            raise ValueError(name)
        yield None
        finished.append(name)
        return name

    @asynq()
    def task() -> Any:
        try:
            yield [work.asynq("a", False), work.asynq("b", True), work.asynq("c", False)]
        except ValueError as error:
            return f"caught {error}"
        return "no error"

    assert task() == "caught b"
    assert sorted(finished) == ["a", "c"]


def test_the_first_error_in_structure_order_is_raised(make_batch) -> None:
    # The second item fails first (its batch has the higher priority and is
    # flushed first); the error of the first item in the structure wins.
    def fail(key: str) -> Any:
        raise LookupError(key)

    low = make_batch("low", priority=1, compute=fail)
    high = make_batch("high", priority=2, compute=fail)
    completion_order = []

    @asynq()
    def fetch(item: Any) -> Any:
        try:
            return (yield item)
        finally:
            completion_order.append(item.key)

    @asynq()
    def as_list() -> Any:
        yield [fetch.asynq(low.item("first")), fetch.asynq(high.item("second"))]

    with pytest.raises(LookupError, match="first"):
        as_list()
    assert completion_order == ["second", "first"]

    low2 = make_batch("low2", priority=1, compute=fail)
    high2 = make_batch("high2", priority=2, compute=fail)

    @asynq()
    def as_dict() -> Any:
        yield {"one": low2.item("one"), "two": high2.item("two")}

    with pytest.raises(LookupError, match="one"):
        as_dict()

    low3 = make_batch("low3", priority=1, compute=fail)
    high3 = make_batch("high3", priority=2, compute=fail)

    @asynq()
    def as_nested() -> Any:
        yield ({"a": [None, low3.item("a")]}, high3.item("b"))

    with pytest.raises(LookupError, match=r"^a$"):
        as_nested()


def test_the_failing_task_can_catch_the_error_at_the_yield_and_go_on() -> None:
    @asynq()
    def task() -> Any:
        try:
            yield fail_with.asynq(KeyError("k"))
        except KeyError:
            pass
        value = yield identity.asynq("after")
        return value

    assert task() == "after"


def test_yielding_an_error_future_raises_at_the_yield() -> None:
    @asynq()
    def task() -> Any:
        try:
            yield [ConstFuture(1), ErrorFuture(OSError("disk"))]
        except OSError as error:
            return str(error)

    assert task() == "disk"


def test_traceback_runs_through_every_task_frame() -> None:
    @asynq()
    def innermost() -> Any:
        yield None
        raise ValueError("deep")

    @asynq()
    def middle() -> Any:
        yield innermost.asynq()

    @asynq()
    def outer() -> Any:
        yield [identity.asynq(1), middle.asynq()]

    with pytest.raises(ValueError, match="deep") as info:
        outer()
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    task_frames = [name for name in names if name in ("outer", "middle", "innermost")]
    assert task_frames == ["outer", "middle", "innermost"]
    assert names[-1] == "innermost"


def test_tasks_run_depth_first_and_the_first_dependency_first() -> None:
    order = []

    @asynq()
    def leaf(name: str) -> Any:
        order.append(name)
        yield None
        order.append(name + " end")

    @asynq()
    def branch(name: str) -> Any:
        order.append(name)
        yield [leaf.asynq(name + "1"), leaf.asynq(name + "2")]
        order.append(name + " end")

    @asynq()
    def root() -> Any:
        order.append("root")
        yield [branch.asynq("a"), branch.asynq("b")]
        order.append("root end")

    root()
    assert order == [
        "root",
        "a",
        "a1",
        "a1 end",
        "a2",
        "a2 end",
        "a end",
        "b",
        "b1",
        "b1 end",
        "b2",
        "b2 end",
        "b end",
        "root end",
    ]


def test_nothing_runs_until_the_task_is_yielded_or_asked_for() -> None:
    ran = []

    @asynq()
    def side_effect() -> Any:
        ran.append(1)
        return "x"
        yield

    task = side_effect.asynq()
    assert isinstance(task, AsyncTask)
    assert ran == []
    assert not task.is_computed()
    assert task.value() == "x"
    assert task.value() == "x"
    assert ran == [1]


def test_generator_return_is_the_task_value() -> None:
    @asynq()
    def task(x: int) -> Any:
        y = yield identity.asynq(x)
        return {"result": y}

    assert task(3) == {"result": 3}
    assert task.asynq(4).value() == {"result": 4}


def test_legacy_result_ends_the_task_with_its_value() -> None:
    @asynq()
    def legacy(x: int) -> Any:
        value = yield identity.asynq(x)
        result(value + 1)
        return  # the Python 2 idiom: result(...) then a bare return

    @asynq()
    def plain_legacy() -> Any:
        result("plain")

    assert legacy(1) == 2
    assert plain_legacy() == "plain"


def test_result_of_a_future_is_an_error_about_yield() -> None:
    @asynq()
    def forgot_yield() -> Any:
        result(identity.asynq(1))
        yield None

    with pytest.raises(TypeError, match=r"result\(.*forgot to 'yield'"):
        forgot_yield()


def test_creator_is_the_task_that_was_active() -> None:
    seen: dict[str, Any] = {}

    @asynq()
    def child() -> Any:
        seen["child"] = get_active_task()
        yield None

    @asynq()
    def parent() -> Any:
        seen["parent"] = get_active_task()
        task = child.asynq()
        seen["created"] = task
        yield task

    top = parent.asynq()
    assert top.creator is None
    top.value()
    assert seen["created"] is seen["child"]
    assert seen["child"].creator is seen["parent"] is top


def test_iteration_index_counts_the_steps_of_the_generator() -> None:
    indexes = []

    @asynq()
    def task() -> Any:
        me = get_active_task()
        indexes.append(me.iteration_index)
        yield None
        indexes.append(me.iteration_index)
        yield identity.asynq(1)
        indexes.append(me.iteration_index)

    created = task.asynq()
    assert created.iteration_index == 0
    created.value()
    assert indexes == [1, 2, 3]
    assert indexes == sorted(set(indexes))


def test_running_is_true_only_while_the_generator_executes() -> None:
    states = []

    @asynq()
    def child(parent: AsyncTask[Any]) -> Any:
        states.append(("parent while child runs", parent.running))
        yield None

    @asynq()
    def task() -> Any:
        me = get_active_task()
        states.append(("self", me.running))
        yield child.asynq(me)

    created = task.asynq()
    assert not created.running
    created.value()
    assert not created.running
    assert states == [("self", True), ("parent while child runs", False)]


def test_traceback_lists_the_creator_chain_outermost_first() -> None:
    captured = []

    @asynq()
    def level_two() -> Any:
        captured.extend(get_active_task().traceback())
        yield None

    @asynq()
    def level_one() -> Any:
        yield level_two.asynq()

    @asynq()
    def level_zero() -> Any:
        yield level_one.asynq()

    level_zero()
    assert len(captured) == 3
    assert [line.split(" in ")[1].split("\n")[0] for line in captured] == [
        "level_zero",
        "level_one",
        "level_two",
    ]
    assert all(line.startswith('  File "') and __file__ in line for line in captured)
    # The line shown for an outer task is the yield it waits at.
    assert "yield level_one.asynq()" in captured[0]


def test_traceback_of_a_task_not_started_points_at_its_function() -> None:
    task = double_later.asynq(1)
    (line,) = task.traceback()
    assert line.startswith(f'  File "{__file__}"')
    assert "in double_later\n" in line
    task.value()
    (line,) = task.traceback()  # finished: the frame is gone, the function remains
    assert "in double_later\n" in line


def test_repr_names_the_function_and_arguments() -> None:
    task = identity.asynq(5)
    assert "identity(5)" in repr(task)
    assert "not computed" in repr(task)
    task.value()
    assert "value: 5" in repr(task)
    kw = fail_with.asynq(error=KeyError("z"))
    assert "fail_with(error=KeyError('z'))" in repr(kw)


def test_task_attributes_hold_the_call() -> None:
    task = identity.asynq("a")
    assert task.args == ("a",)
    assert task.kwargs == {}
    assert task.fn.__name__ == "identity"


def test_an_async_task_can_be_built_from_any_generator() -> None:
    def generator(x: int) -> Any:
        value = yield double_later.asynq(x)
        return value + 1

    task = AsyncTask(generator(5), generator, (5,), {})
    assert task.value() == 11


def test_on_computed_of_a_task_fires_when_it_finishes() -> None:
    seen = []
    task = double_later.asynq(2)
    task.on_computed.subscribe(lambda t: seen.append(t.value()))
    assert seen == []
    task.value()
    assert seen == [4]


def test_set_value_from_outside_skips_the_generator() -> None:
    ran = []

    @asynq()
    def expensive() -> Any:
        ran.append(1)
        yield None
        return "computed"

    task = expensive.asynq()
    task.set_value("cached")
    assert task.value() == "cached"

    @asynq()
    def waiter() -> Any:
        return (yield task)

    assert waiter() == "cached"
    assert ran == []


def test_an_error_escaping_a_task_fails_it() -> None:
    task = fail_with.asynq(KeyError("missing"))
    error = task.error()
    assert isinstance(error, KeyError)
    assert task.is_computed()
    with pytest.raises(KeyError):
        task.value()


def test_a_cancelled_error_fails_the_task_and_its_waiter() -> None:
    @asynq()
    def cancelled() -> Any:
        yield None
        raise AsyncTaskCancelledError("stop")

    @asynq()
    def waiter() -> Any:
        yield cancelled.asynq()
        return "not reached"

    task = waiter.asynq()
    with pytest.raises(AsyncTaskCancelledError, match="stop"):
        task.value()
    assert isinstance(task.error(), AsyncTaskCancelledError)
    assert issubclass(AsyncTaskCancelledError, GeneratorExit)


def test_task_dump_shows_what_it_waits_for(debug_output) -> None:
    shown = []

    @asynq()
    def child(parent: AsyncTask[Any]) -> Any:
        parent.dump()
        shown.append(debug_output.getvalue())
        yield None

    @asynq()
    def parent() -> Any:
        yield child.asynq(get_active_task())

    parent()
    assert "parent()" in shown[0]
    assert "waiting for:" in shown[0]
    assert "child(" in shown[0]


def test_a_waiting_task_given_a_value_from_outside_never_resumes(make_batch) -> None:
    batch = make_batch("late")
    log = []

    @asynq()
    def inner() -> Any:
        try:
            value = yield batch.item("from the batch")
            log.append("resumed")
            return value
        finally:
            log.append("closed")

    @asynq()
    def outer() -> Any:
        task = inner.asynq()
        yield [task, setter.asynq(task)]
        return task.value()

    @asynq()
    def setter(task: Any) -> Any:
        yield None
        task.set_value("from outside")

    assert outer() == "from outside"
    batch.flush()  # the item it waited on is computed later: the task stays done
    assert log == ["closed"]


def test_set_error_with_a_non_exception_leaves_the_task_untouched() -> None:
    @asynq()
    def plain() -> Any:
        yield None
        return 1

    task = plain.asynq()
    with pytest.raises(TypeError, match=r"AsyncTask.set_error\(\) takes an exception, got 'oops'"):
        task.set_error("oops")  # type: ignore[arg-type]
    assert task.value() == 1


def test_a_running_task_cannot_be_given_a_value_from_outside() -> None:
    @asynq()
    def self_setting() -> Any:
        yield None
        get_active_task().set_value(2)

    with pytest.raises(AsyncTaskError, match=r"self_setting\(\).*is running"):
        self_setting()


def test_kwargs_of_a_call_without_keywords_is_a_dict_that_cannot_be_changed() -> None:
    import copy
    import json
    import pickle

    task = identity.asynq(1)
    assert isinstance(task.kwargs, dict) and task.kwargs == {}
    assert json.dumps(task.kwargs) == "{}"
    assert type(pickle.loads(pickle.dumps(task.kwargs))) is dict
    assert copy.deepcopy(task.kwargs) == {}
    with pytest.raises(TypeError, match="shared and read-only"):
        task.kwargs["x"] = 1
    assert identity.asynq(value=2).kwargs == {"value": 2}
