"""Batch mode: CSV from the test:/// driver, parsed back with the csv module."""

from __future__ import annotations

import csv
import io
import itertools
import time
from datetime import datetime

import pytest

from kvmtui.backend.batch import COLUMNS, csv_row, iso_utc, run_batch
from kvmtui.backend.host import Host
from kvmtui.backend.model import GuestState
from kvmtui.backend.poller import StatsUpdated
from kvmtui.backend.stats import GuestRates


def test_three_iterations_give_a_header_and_three_rows_per_guest(test_node_uri: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    summary = run_batch([test_node_uri], 3, 0.05, out, errors_to=err, sleep=sleep)
    assert summary.ok and err.getvalue() == ""
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert out.getvalue().splitlines()[0] == ",".join(COLUMNS)
    assert len(rows) == summary.rows == 3 * 13
    names = sorted(r["guest"] for r in rows)
    per_guest = {name: len(list(group)) for name, group in itertools.groupby(names)}
    assert set(per_guest.values()) == {3} and len(per_guest) == 13
    assert sleeps == [0.05, 0.05, 0.05]  # before each iteration: after the priming sample
    replica = next(r for r in rows if r["guest"] == "db-replica")
    assert replica["state"] == "paused"
    assert replica["host"] == "test:node"
    assert replica["uuid"] == "6695eb01-f6a4-8304-79aa-97f2502e1904"
    assert replica["mem_max_kib"] == "8388608"  # from the guest's configuration
    # The test driver reports only the state group: every measurement is an empty field.
    for column in ("cpu_pct", "mem_used_kib", "disk_rd_bps", "net_tx_bps", "cpu_time_s"):
        assert replica[column] == "", column
    stamps = sorted({r["timestamp"] for r in rows})
    assert len(stamps) == 3 and all(s.endswith("Z") for s in stamps)  # one per iteration
    datetime.fromisoformat(stamps[0])


def test_a_host_object_is_used_as_it_is_and_left_running(test_node_uri: str) -> None:
    host = Host(test_node_uri, readonly=True)
    host.start()
    try:
        assert host.wait_connected(10)
        out = io.StringIO()
        summary = run_batch([host], 1, 0, out, sleep=lambda _s: None)
        assert summary.rows == 13
        assert host.connected
    finally:
        host.stop()


def test_an_unreachable_host_is_a_sentence_and_the_others_go_on(test_node_uri: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    summary = run_batch(
        ["test:///nonexistent/node.xml", test_node_uri],
        1,
        0,
        out,
        errors_to=err,
        connect_timeout=5,
        sleep=lambda _s: None,
    )
    assert summary.rows == 13
    assert not summary.ok
    assert "nonexistent" in err.getvalue()
    assert all("Traceback" not in e for e in summary.errors)


@pytest.mark.parametrize(("iterations", "delay"), [(0, 1.0), (-1, 1.0), (1, -0.5)])
def test_bad_values_raise_value_error(iterations: int, delay: float) -> None:
    with pytest.raises(ValueError):
        run_batch([], iterations, delay, io.StringIO())


def test_row_formatting_of_known_and_unknown_values() -> None:
    rates = GuestRates(
        host="h",
        uuid="u",
        name='web, the "big" one',
        state=GuestState.SHUTDOWN,
        domain_id=3,
        vcpus=2,
        cpu_time_s=12.34567,
        cpu_pct=50.004,
        mem_used_kib=1234,
        mem_max_kib=4096,
        disk_rd_bps=1536.6,
        disk_rd_reqs_ps=0.333,
    )
    update = StatsUpdated("h", 1, 0.25, 5.0, 3.0, (rates,), None, 0.001)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(csv_row(update, rates))
    row = next(csv.reader(io.StringIO(text.getvalue())))
    assert row == [
        "1970-01-01T00:00:00.250Z",
        "h",
        'web, the "big" one',
        "u",
        "in shutdown",
        "50.00",
        "1234",
        "4096",
        "1537",
        "",
        "0.33",
        "",
        "",
        "",
        "12.346",
    ]
    assert iso_utc(86400) == "1970-01-02T00:00:00.000Z"
