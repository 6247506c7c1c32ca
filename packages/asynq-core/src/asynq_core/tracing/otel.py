"""OpenTelemetry: a span per flush round, in every thread, while it is on."""

from __future__ import annotations

from typing import Any

from .. import _debug, spans
from ..__about__ import __version__

__all__ = ["enable_otel", "disable_otel"]


def enable_otel(tracer_provider: Any = None) -> None:
    """Makes an OpenTelemetry span for every flush, in every thread, from now on.

    Spans are named ``asynq.flush <batch name>`` and carry the attributes
    ``asynq.batch.class``, ``asynq.batch.items`` and ``asynq.batch.failed_items``;
    a flush that raised or whose items failed gets an error status and an
    exception event. They are children of the span current when the flush
    starts. ``tracer_provider`` defaults to the global one. Needs the
    ``otel`` extra (``pip install 'asynq-core[otel]'``). Every scheduler runs
    its traced loop while this is on; ``disable_otel()`` turns it off.
    """
    try:
        from opentelemetry import trace
    except ImportError as error:
        raise ImportError(
            "asynq_core.tracing.enable_otel() needs the OpenTelemetry API: "
            "pip install 'asynq-core[otel]'"
        ) from error
    spans.tracer = trace.get_tracer(
        "asynq_core.tracing", __version__, tracer_provider=tracer_provider
    )
    _debug.options.OTEL_SPANS = True


def disable_otel() -> None:
    """Stops making spans (flushes already in a span finish in it)."""
    _debug.options.OTEL_SPANS = False
    spans.tracer = None
