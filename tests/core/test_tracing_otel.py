"""OpenTelemetry spans per flush (``asynq_core.tracing.enable_otel``), checked with the
SDK's in-memory exporter.

The SDK is a test dependency (hatch.toml); without it these tests skip
(a failure under ``CI=true``: see the root conftest).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from asynq_core import _debug, asynq, tracing

try:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode
except ImportError:
    pytest.skip("opentelemetry-sdk is not installed", allow_module_level=True)


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A provider of the test's own (not the global one), enabled for the test."""
    provider = TracerProvider()
    tracing.enable_otel(tracer_provider=provider)
    try:
        yield provider
    finally:
        tracing.disable_otel()
        provider.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    """The spans the provider ended, in memory."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@asynq()
def fetch(batch: Any, key: Any) -> Any:
    value = yield batch.item(key)
    return value


@asynq()
def fetch_all(batch: Any, keys: list[Any]) -> Any:
    values = yield [fetch.asynq(batch, key) for key in keys]
    return values


@asynq()
def two_levels(first: Any, second: Any, keys: list[Any]) -> Any:
    values = yield [fetch.asynq(first, key) for key in keys]
    return (yield [fetch.asynq(second, value) for value in values])


def test_each_flush_is_a_span_with_the_batch_and_its_size(exporter, make_batch) -> None:
    first, second = make_batch("first"), make_batch("second")
    assert two_levels(first, second, [1, 2, 3]) == [1, 2, 3]
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["asynq.flush TinyBatch"] * 2
    for span in spans:
        assert span.attributes["asynq.batch.items"] == 3
        assert span.attributes["asynq.batch.failed_items"] == 0
        assert span.attributes["asynq.batch.class"].endswith(".TinyBatch")
        assert span.status.status_code is StatusCode.UNSET
    assert spans[0].end_time <= spans[1].start_time


def test_flush_spans_are_children_of_the_current_span(provider, exporter, make_batch) -> None:
    with provider.get_tracer("app").start_as_current_span("request") as request:
        fetch_all(make_batch("users"), [1, 2])
    flush, parent = exporter.get_finished_spans()
    assert parent.name == "request"
    assert flush.parent is not None
    assert flush.parent.span_id == request.get_span_context().span_id


def test_failed_items_give_the_span_an_error_status(exporter, make_batch) -> None:
    def compute(key: int) -> int:
        if key < 0:
            raise KeyError(key)
        return key

    with pytest.raises(KeyError):
        fetch_all(make_batch("users", compute=compute), [1, -2, 3])
    [span] = exporter.get_finished_spans()
    assert span.attributes["asynq.batch.failed_items"] == 1
    assert span.status.status_code is StatusCode.ERROR
    assert "1 of 3 items failed" in span.status.description
    [event] = span.events
    assert event.name == "exception" and event.attributes["exception.type"] == "KeyError"


def test_a_flush_that_raises_is_recorded_on_its_span(exporter, make_batch) -> None:
    batch = make_batch("users", fail_with=RuntimeError("the connection dropped"))
    with pytest.raises(RuntimeError, match="connection dropped"):
        fetch_all(batch, [1])
    [span] = exporter.get_finished_spans()
    assert span.name == "asynq.flush TinyBatch"
    assert span.status.status_code is StatusCode.ERROR
    assert [event.attributes["exception.type"] for event in span.events] == ["RuntimeError"]


def test_spans_are_made_in_every_thread(exporter, make_batch) -> None:
    thread = threading.Thread(target=lambda: fetch_all(make_batch("theirs"), [1, 2, 3, 4]))
    thread.start()
    thread.join()
    fetch_all(make_batch("mine"), [1])
    sizes = sorted(span.attributes["asynq.batch.items"] for span in exporter.get_finished_spans())
    assert sizes == [1, 4]


def test_spans_and_a_recording_work_together(exporter, make_batch) -> None:
    with tracing.record() as recording:
        fetch_all(make_batch("users"), [1, 2])
    assert [flush.items for flush in recording.flushes] == [2]
    assert len(exporter.get_finished_spans()) == 1


def test_disable_otel_stops_the_spans_and_the_traced_loop(make_batch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable_otel(tracer_provider=provider)
    assert _debug.options.OTEL_SPANS and _debug.options.tracing
    tracing.disable_otel()
    assert not _debug.options.OTEL_SPANS and not _debug.options.tracing
    fetch_all(make_batch("users"), [1])
    assert exporter.get_finished_spans() == ()


def test_enable_otel_without_the_api_says_which_extra_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'asynq-core\[otel\]'"):
        tracing.enable_otel()
    assert not _debug.options.OTEL_SPANS
