"""OpenTelemetry spans of flush rounds (``tracing.enable_otel()`` turns them on).

Kept apart from ``tracing`` (which sits above the scheduler) so that a round
(``rounds``) can open and close its span. The OpenTelemetry API is imported
only while spans are on: it is an optional dependency (the ``otel`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .groups import batch_name, outcome_of

if TYPE_CHECKING:
    from .protocols import FlushGroup

__all__ = ["start_flush_span", "end_flush_span", "tracer"]


#: The OpenTelemetry tracer while spans are on (set by tracing.enable_otel()).
tracer: Any = None


def start_flush_span(group: FlushGroup, make_current: bool) -> Any:
    """Opens the span of a round whose first group is ``group`` (called by
    ``rounds.Round``); with ``make_current``, it is the current span until
    ``end_flush_span``. None if spans were disabled meanwhile."""
    otel_tracer = tracer
    if otel_tracer is None:
        return None
    batch_class = type(group)
    attributes = {"asynq.batch.class": f"{batch_class.__module__}.{batch_class.__qualname__}"}
    span = otel_tracer.start_span(f"asynq.flush {batch_name(group)}", attributes=attributes)
    token = None
    if make_current:
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(span))
    return span, token


def end_flush_span(opened: Any, group: FlushGroup, error: BaseException | None) -> None:
    """Closes a span of ``start_flush_span``, with the outcome of ``group``."""
    if opened is None:
        return
    from opentelemetry import context
    from opentelemetry.trace import Status, StatusCode

    span, token = opened
    if token is not None:
        context.detach(token)
    items, failed, item_error = outcome_of(group)
    error = error if error is not None else item_error
    span.set_attribute("asynq.batch.items", items)
    span.set_attribute("asynq.batch.failed_items", failed)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{failed} of {items} items failed: {error!r}"))
    span.end()
