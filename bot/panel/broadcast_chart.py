"""The chart of a broadcast's deliveries over time, drawn on the server as inline SVG.

`chart(timeline)` turns `storage.broadcasts.Timeline` (messages handed to a provider per channel
and interval) into stacked bars, axis ticks and the rows of the table that stands beside it for
readers who cannot see the picture; the template draws them (panel/broadcast_chart.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kernel.clock import WARSAW
from storage.broadcasts import Timeline

WIDTH = 420
HEIGHT = 210
# Room for the axes' labels: left, top, right, bottom.
MARGIN = (44, 12, 12, 32)
X_LABELS = 4
# At most this many steps on the count axis, each a whole number.
Y_STEPS = 4
# A lone bar (a broadcast that went out within one interval) is not drawn across the chart.
WIDEST_BAR = 40.0
# Fill colours with at least 3:1 contrast on white (WCAG 1.4.11), told apart by the legend too.
COLOURS = {"telegram": "#1f6fb2", "sms": "#a34f00", "email": "#2e7d32"}
OTHER_COLOUR = "#5a5a5a"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    channel: str
    colour: str
    count: int
    label: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Row:
    """One interval in the table: its start (Europe/Warsaw), the count per channel, the sum."""

    label: str
    counts: list[int]
    total: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    channels: list[tuple[str, str]]
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    rows: list[Row]
    step_seconds: int
    total: int


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least `value` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def count_axis(peak: int) -> tuple[int, int]:
    """The count axis for a tallest bar of `peak`: (its top, its step), whole numbers, the
    step a round one and at most `Y_STEPS` of them."""
    step = nice_ceiling(-(-peak // Y_STEPS))
    return step * max(1, -(-peak // step)), step


def time_label(at: datetime, step_seconds: int) -> str:
    local = at.astimezone(WARSAW)
    if step_seconds >= 86400:
        return local.strftime("%Y-%m-%d")
    if step_seconds < 60:
        return local.strftime("%H:%M:%S")
    return local.strftime("%H:%M")


def chart(timeline: Timeline) -> Chart:
    left, top = MARGIN[0], MARGIN[1]
    right, bottom = WIDTH - MARGIN[2], HEIGHT - MARGIN[3]
    intervals = max(timeline.intervals, 1)
    channels = list(timeline.counts)
    totals = [sum(timeline.counts[c][i] for c in channels) for i in range(timeline.intervals)]
    peak, y_step = count_axis(max(totals, default=0))
    slot = (right - left) / intervals
    width = min(slot - min(2.0, slot * 0.2), WIDEST_BAR)
    bars: list[Bar] = []
    labels = [
        time_label(timeline.interval_start(i), timeline.step_seconds) for i in range(intervals)
    ]
    for index in range(timeline.intervals):
        base = float(bottom)
        for channel in channels:
            count = timeline.counts[channel][index]
            if not count:
                continue
            height = (bottom - top) * count / peak
            base -= height
            bars.append(
                Bar(
                    x=round(left + (index + 0.5) * slot - width / 2, 2),
                    y=round(base, 2),
                    width=round(width, 2),
                    height=round(height, 2),
                    channel=channel,
                    colour=COLOURS.get(channel, OTHER_COLOUR),
                    count=count,
                    label=labels[index],
                )
            )
    every = max(1, -(-intervals // X_LABELS))
    x_ticks = [
        Tick(round(left + (index + 0.5) * slot, 2), labels[index])
        for index in range(0, intervals, every)
    ]
    y_ticks = [
        Tick(round(bottom - (bottom - top) * count / peak, 2), str(count))
        for count in range(0, peak + 1, y_step)
    ]
    rows = [
        Row(labels[i], [timeline.counts[c][i] for c in channels], totals[i])
        for i in range(timeline.intervals)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        channels=[(c, COLOURS.get(c, OTHER_COLOUR)) for c in channels],
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        rows=rows,
        step_seconds=timeline.step_seconds,
        total=sum(totals),
    )
