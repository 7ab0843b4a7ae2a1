"""The words a failed snapshot prints: which rows differ, in text or in colour."""

from __future__ import annotations

from pathlib import Path

from tests.snapshot_diff import differences, report

KSM_SVG = Path(__file__).parents[2] / "snapshots/__snapshots__/test_ksm/test_ksm_screen.svg"


def test_the_same_picture_has_no_difference() -> None:
    svg = KSM_SVG.read_text()
    assert differences(svg, svg) == []
    assert list(report(svg, svg)) == ["no row differs"]


def test_a_changed_text_names_its_row_and_both_texts() -> None:
    svg = KSM_SVG.read_text()
    changed = svg.replace(">KSM&#160;running<", ">KSM&#160;stopped<")
    assert changed != svg
    assert differences(svg, changed) == [
        "row 1: expected '     test:storage-node  KSM running'\n"
        "        actual   '     test:storage-node  KSM stopped'"
    ]


def test_a_changed_colour_names_its_row_and_columns() -> None:
    svg = KSM_SVG.read_text()
    # The first row's background, from column 1 for 78 columns, turns red.
    changed = svg.replace(
        '<rect fill="#121212" x="12.2" y="1.5" width="951.6"',
        '<rect fill="#ff0000" x="12.2" y="1.5" width="951.6"',
        1,
    )
    assert changed != svg
    (said,) = differences(svg, changed)
    assert said.startswith("row 0: same text ' KSM and overcommit")
    assert "other colours at columns 1-78" in said
    assert "expected ['background #121212', 'text fill: #a0a0a0']" in said
    assert "actual ['background #ff0000', 'text fill: #a0a0a0']" in said
