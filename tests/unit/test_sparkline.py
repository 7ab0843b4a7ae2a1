"""The block sparkline of the guest list and the graphs: heights, gaps, alignment."""

from __future__ import annotations

from kvmtui.tui.widgets.sparkline import BLOCKS, spark


def test_heights_scale_to_top_and_unknown_is_a_gap() -> None:
    # 50 % of 100 is level 3.5, rounded up to the fifth block; 99 % is a full block.
    assert spark((1.0, None, 50.0, 99.0, 0.0, 12.0, 80.0, 33.0), 8, top=100.0) == "▁ ▅█▁▂▇▃"


def test_newest_values_right_aligned_and_only_the_last_width_kept() -> None:
    assert spark((100.0,), 4, top=100.0) == "   █"
    assert spark(tuple(float(v) for v in range(20)), 3, top=19.0) == BLOCKS[6] + BLOCKS[7] * 2


def test_without_top_the_largest_known_value_is_a_full_block() -> None:
    assert spark((1.0, None, 4.0), 3) == "▃ █"  # 1/4 of 7 levels, rounded: level 2
    assert spark((0.0, None), 4) == "  ▁ "  # all zero: the lowest block, not a gap
    assert spark((), 3) == "   " and spark((1.0,), 0) == ""


def test_stretch_spreads_few_values_over_the_width() -> None:
    assert spark((1.0, 2.0), 4, stretch=True) == BLOCKS[4] * 2 + BLOCKS[7] * 2
