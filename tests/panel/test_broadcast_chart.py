"""The broadcast status page's chart: whole-number count axis, stacked bars, the table's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.panel.broadcast_chart import COLOURS, chart, count_axis, time_label
from storage.broadcasts import Timeline


@pytest.mark.parametrize(
    ("peak", "axis"),
    [(0, (1, 1)), (1, (1, 1)), (4, (4, 1)), (5, (6, 2)), (37, (40, 10)), (1000, (1000, 500))],
)
def test_the_count_axis_has_round_whole_steps(peak: int, axis: tuple[int, int]) -> None:
    assert count_axis(peak) == axis


def test_bars_stack_by_channel_and_the_table_carries_the_same_numbers() -> None:
    timeline = Timeline(
        start=datetime(2027, 5, 10, 10, 0, tzinfo=UTC),
        step_seconds=300,
        counts={"email": [2, 0, 5], "sms": [1, 0, 0], "telegram": [1, 0, 3]},
    )
    drawn = chart(timeline)
    assert drawn.total == 12
    assert [(row.label, row.counts, row.total) for row in drawn.rows] == [
        ("12:00", [2, 1, 1], 4),
        ("12:05", [0, 0, 0], 0),
        ("12:10", [5, 0, 3], 8),
    ]
    # The tallest bar (8) reaches the top of the axis (8, in steps of 2).
    assert [tick.label for tick in drawn.y_ticks] == ["0", "2", "4", "6", "8"]
    first = [bar for bar in drawn.bars if bar.label == "12:00"]
    assert [(bar.channel, bar.count, bar.colour) for bar in first] == [
        ("email", 2, COLOURS["email"]),
        ("sms", 1, COLOURS["sms"]),
        ("telegram", 1, COLOURS["telegram"]),
    ]
    # Each sits on the one below it, the lowest on the axis.
    assert first[0].y + first[0].height == drawn.bottom
    assert first[1].y + first[1].height == pytest.approx(first[0].y)
    last = [bar for bar in drawn.bars if bar.label == "12:10"]
    assert min(bar.y for bar in last) == pytest.approx(drawn.top)
    assert all(bar.width <= 40 for bar in drawn.bars)


def test_labels_follow_the_interval_in_warsaw_time() -> None:
    at = datetime(2027, 5, 10, 22, 30, 5, tzinfo=UTC)
    assert time_label(at, 5) == "00:30:05"
    assert time_label(at, 300) == "00:30"
    assert time_label(at, 86400) == "2027-05-11"
