"""A recording as a self-contained SVG timeline (``Recording.svg()``): rounds,
task steps and flushes, with anything XML cannot hold escaped."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from .events import _ms, _plural  # pyright: ignore[reportPrivateUsage]  # the package's helpers

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["render_svg"]


_TASK_COLOR = "#4c78a8"

_FLUSH_COLOR = "#f58518"

_ERROR_COLOR = "#e45756"

_BAND_COLORS = ("#eef3fa", "#fafbfd")


def render_svg(recording: Recording, width: int) -> str:
    right, top, row_height, axis_height = 24, 78, 30, 44
    batches = list(dict.fromkeys(flush.batch for flush in recording.flushes))
    rows = ["tasks", *batches]
    # Row labels are about 7 px a character; the column grows to fit them,
    # up to a third of the picture (longer ones are clipped).
    label_chars = min(max(len(f"flush {name}") for name in rows), (width // 3 - 20) // 7)
    label_width = max(170, 7 * label_chars + 20)
    height = top + row_height * len(rows) + axis_height
    last_event = max(
        [step.start + step.duration for step in recording.steps]
        + [flush.end for flush in recording.flushes]
        + [0.0]
    )
    total = max(recording.wall_time, last_event) or 1e-6
    plot = width - label_width - right
    per_pixel = total / plot

    def x(seconds: float) -> float:
        return label_width + seconds / total * plot

    def row_y(index: int) -> int:
        return top + index * row_height

    items = sum(flush.items for flush in recording.flushes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(
            12,
            22,
            f"asynq: {_plural(recording.rounds, 'round')}, "
            f"{_plural(len(recording.flushes), 'flush', 'flushes')} "
            f"({_plural(items, 'item')}), {_plural(recording.tasks_finished, 'task')} finished",
            size=15,
            weight="bold",
        ),
        _text(
            12,
            42,
            f"wall {_ms(recording.wall_time)}, in tasks {_ms(recording.task_time)}, "
            f"in flushes {_ms(recording.flush_time)}",
            fill="#444444",
        ),
    ]
    # Legend.
    legend_x = width - right - 330
    for offset, (color, label) in enumerate(
        (
            (_TASK_COLOR, "task running"),
            (_FLUSH_COLOR, "batch flush"),
            (_ERROR_COLOR, "flush with errors"),
        )
    ):
        lx = legend_x + offset * 115
        out.append(f'<rect x="{lx}" y="32" width="12" height="12" fill="{color}"/>')
        out.append(_text(lx + 16, 42, label, fill="#444444"))
    # Round bands: round i runs from the end of round i-1 to the end of its last flush.
    plot_top, plot_bottom = row_y(0), row_y(len(rows))
    band_start = 0.0
    for index, flushes in enumerate(recording.flushes_by_round()):
        if not flushes:
            continue
        band_end = max(flush.end for flush in flushes)
        x0, x1 = x(band_start), x(band_end)
        out.append(
            f'<rect x="{x0:.2f}" y="{plot_top - 18}" width="{max(x1 - x0, 0.5):.2f}" '
            f'height="{plot_bottom - plot_top + 18}" fill="{_BAND_COLORS[index % 2]}">'
            f"<title>round {index}: {_plural(len(flushes), 'flush', 'flushes')}, "
            f"{_plural(sum(f.items for f in flushes), 'item')}</title></rect>"
        )
        label = f"round {index}" if x1 - x0 >= 54 else str(index) if x1 - x0 >= 14 else ""
        if label:
            out.append(
                _text((x0 + x1) / 2, plot_top - 5, label, anchor="middle", fill="#555555", size=11)
            )
        band_start = band_end
    # Grid and time axis.
    step = _tick_step(total)
    tick = 0.0
    while tick <= total * 1.0001:
        tx = x(tick)
        out.append(
            f'<line x1="{tx:.2f}" y1="{plot_top}" x2="{tx:.2f}" y2="{plot_bottom + 4}" '
            'stroke="#d0d0d0" stroke-width="1"/>'
        )
        out.append(
            _text(
                tx,
                plot_bottom + 18,
                _tick_label(tick, step),
                anchor="middle",
                fill="#444444",
                size=11,
            )
        )
        tick += step
    out.append(
        _text(
            label_width + plot / 2,
            plot_bottom + 36,
            "time since the recording started",
            anchor="middle",
            fill="#666666",
            size=11,
        )
    )
    # Row labels and separators.
    for index, name in enumerate(rows):
        y = row_y(index)
        out.append(
            f'<line x1="{label_width}" y1="{y + row_height}" x2="{width - right}" '
            f'y2="{y + row_height}" stroke="#e4e4e4" stroke-width="1"/>'
        )
        label = name if index == 0 else f"flush {name}"
        out.append(
            _text(label_width - 8, y + row_height / 2 + 4, _clip(label, label_chars), anchor="end")
        )
    # Task steps, merged where they are closer than a pixel.
    y = row_y(0) + 6
    for start, end, count in _merge_spans(
        sorted((step.start, step.start + step.duration) for step in recording.steps), per_pixel
    ):
        x0 = x(start)
        out.append(
            f'<rect x="{x0:.2f}" y="{y}" width="{max(x(end) - x0, 0.6):.2f}" '
            f'height="{row_height - 12}" fill="{_TASK_COLOR}">'
            f"<title>{_plural(count, 'task step')}, {_ms(end - start)}</title></rect>"
        )
    # Flushes.
    for flush in recording.flushes:
        y = row_y(1 + batches.index(flush.batch)) + 4
        x0 = x(flush.start)
        bar = max(x(flush.end) - x0, 1.5)
        color = _ERROR_COLOR if flush.error is not None else _FLUSH_COLOR
        tip = (
            f"{flush.batch}: {_plural(flush.items, 'item')}, round {flush.round}, "
            f"{_ms(flush.duration)}"
        )
        if flush.failed_items:
            tip += f", {flush.failed_items} failed"
        if flush.error is not None:
            tip += f" ({flush.error!r})"
        out.append(
            f'<rect x="{x0:.2f}" y="{y}" width="{bar:.2f}" height="{row_height - 8}" '
            f'fill="{color}" rx="2"><title>{_xml_text(tip)}</title></rect>'
        )
        label = _plural(flush.items, "item")
        if bar < 7 * len(label) + 8:
            label = str(flush.items)
        if bar >= 7 * len(label) + 8:
            out.append(
                _text(
                    x0 + bar / 2,
                    y + row_height / 2,
                    label,
                    anchor="middle",
                    fill="#ffffff",
                    weight="bold",
                    size=11,
                )
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _merge_spans(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float, int]]:
    merged: list[list[Any]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < gap:
            last = merged[-1]
            last[1] = max(last[1], end)
            last[2] += 1
        else:
            merged.append([start, end, 1])
    return [(start, end, count) for start, end, count in merged]


def _tick_step(total: float) -> float:
    raw = total / 8
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _tick_label(seconds: float, step: float) -> str:
    if step >= 1:
        return f"{seconds:g} s"
    milliseconds = seconds * 1000
    decimals = max(0, -math.floor(math.log10(step * 1000))) if step * 1000 < 1 else 0
    return f"{milliseconds:.{decimals}f} ms"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    fill: str = "#222222",
    size: int = 12,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" fill="{fill}" '
        f'font-size="{size}" font-weight="{weight}">{_xml_text(text)}</text>'
    )


# What XML 1.0 cannot hold, even as a character reference: most control
# characters, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """``text`` as XML character data; what XML cannot hold is shown as its Python escape."""
    shown = _NOT_XML.sub(lambda match: ascii(match[0])[1:-1], text)
    return escape(shown)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
