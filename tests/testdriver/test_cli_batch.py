"""kvmtui --batch: CSV rows through the command line, and bad option values exit 2."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from kvmtui.backend.batch import COLUMNS
from kvmtui.tui import cli

GUESTS = 13


def rows_of(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_three_iterations_give_a_header_and_three_rows_per_guest(
    test_node_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--batch", "-n", "3", "-d", "0.1", "-c", test_node_uri]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(COLUMNS)
    rows = rows_of(out)
    assert len(rows) == 3 * GUESTS
    by_guest: dict[str, int] = {}
    for row in rows:
        by_guest[row["guest"]] = by_guest.get(row["guest"], 0) + 1
        assert row["host"] == "test:node"
        assert row["timestamp"].endswith("Z")
        assert row["state"] in {"running", "idle", "paused", "in shutdown", "shut off",
                                "crashed", "pmsuspended"}  # fmt: skip
        for column in ("cpu_pct", "disk_rd_bps", "net_rx_bps", "cpu_time_s"):
            if row[column]:  # unknown is empty, known parses as a number
                float(row[column])
        int(row["mem_max_kib"])
    assert set(by_guest.values()) == {3} and len(by_guest) == GUESTS


def test_csv_file_and_labels(test_node_uri: str, tmp_path: Path) -> None:
    target = tmp_path / "stats.csv"
    argv = ["--batch", "-d", "0.1", "--csv", str(target), "-c", f"lab={test_node_uri}"]
    assert cli.main(argv) == 0
    rows = rows_of(target.read_text())
    assert len(rows) == GUESTS and {r["host"] for r in rows} == {"lab"}


def test_an_unreachable_host_is_a_sentence_and_exit_1(
    test_node_uri: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "BATCH_CONNECT_TIMEOUT", 5.0)
    argv = ["--batch", "-d", "0.1", "-c", test_node_uri, "-c", "test:///nonexistent/x.xml"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert len(rows_of(captured.out)) == GUESTS, "the reachable host still reports"
    assert "test:x" in captured.err or "nonexistent" in captured.err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--batch", "-n", "0"], "must be at least 1"),
        (["--batch", "-n", "three"], "not a whole number"),
        (["--batch", "-d", "-1"], "must be at least 0.1 seconds"),
        (["--batch", "-d", "soon"], "not a number of seconds"),
        (["-d", "0"], "must be at least 0.1 seconds"),
        (["-n", "3"], "only apply with --batch"),
        (["--csv", "-"], "only apply with --batch"),
    ],
)
def test_bad_values_exit_2_with_usage(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kvmtui")
    assert says in err
