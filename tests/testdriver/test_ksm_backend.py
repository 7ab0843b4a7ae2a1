"""KSM backend without a daemon: parsing, derived figures, validation, permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmtui.backend import ksm
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.ksm import GuestKsm, KsmCounters, KsmHistory, KsmLocal, KsmReading


def reading(**counters: int) -> KsmReading:
    return KsmReading("h", 0.0, KsmCounters(**counters))


def test_saved_memory_and_ratio_from_counters() -> None:
    r = reading(pages_shared=5000, pages_sharing=25000)
    assert r.saved_kib == 25000 * 4
    assert r.sharing_ratio == 5.0


def test_unknowns_stay_unknown() -> None:
    assert reading(pages_shared=0, pages_sharing=0).sharing_ratio is None
    none = KsmReading("h", 0.0, None, unavailable="no")
    assert none.saved_kib is None and none.sharing_ratio is None and none.running is None


def test_counters_from_libvirt_parameters() -> None:
    params = {
        "shm_pages_to_scan": 100, "shm_sleep_millisecs": 20, "shm_pages_shared": 3,
        "shm_pages_sharing": 9, "shm_pages_unshared": 1, "shm_pages_volatile": 2,
        "shm_full_scans": 4, "shm_merge_across_nodes": 1,
    }  # fmt: skip
    c = ksm.counters_from_params(params)
    assert (c.pages_to_scan, c.sleep_millisecs, c.pages_shared, c.pages_sharing) == (100, 20, 3, 9)
    assert (c.pages_unshared, c.pages_volatile, c.full_scans, c.merge_across_nodes) == (1, 2, 4, 1)
    assert ksm.counters_from_params({}).merge_across_nodes is None


def test_ksm_stat_parsed() -> None:
    text = (
        "ksm_rmap_items 120\nksm_zero_pages 0\nksm_merging_pages 11020\n"
        "ksm_process_profit 44122112\nksm_merge_any: no\nksm_mergeable: yes\n"
    )
    stat = ksm.parse_ksm_stat(text)
    assert stat == {
        "ksm_rmap_items": 120,
        "ksm_zero_pages": 0,
        "ksm_merging_pages": 11020,
        "ksm_process_profit": 44122112,
    }


def test_guest_name_from_qemu_command_line() -> None:
    cmd = ["/usr/bin/qemu-system-x86_64", "-name", "guest=web-1,debug-threads=on", "-S"]
    assert ksm.guest_name_from_cmdline(cmd) == "web-1"
    assert ksm.guest_name_from_cmdline(["qemu", "-name", "plain"]) == "plain"
    assert ksm.guest_name_from_cmdline(["qemu", "-m", "256"]) is None


def test_guest_ksm_read_through_pid_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pid file names the process; its ksm_stat gives the guest's figures."""
    import os

    pid_dir = tmp_path / "run"
    proc = tmp_path / "proc"
    pid_dir.mkdir()
    (proc / str(os.getpid())).mkdir(parents=True)
    (pid_dir / "g1.pid").write_text(f"{os.getpid()}\n")
    (proc / str(os.getpid()) / "ksm_stat").write_text(
        "ksm_merging_pages 256\nksm_zero_pages 3\nksm_process_profit 1000\n"
    )
    monkeypatch.setattr(ksm, "QEMU_PID_DIR", pid_dir)
    monkeypatch.setattr(ksm.qemu_pids, "__defaults__", (pid_dir,))
    found = ksm.read_guest_ksm(["g1"], proc=proc)
    assert found == (GuestKsm("g1", os.getpid(), 256, 3, 1000),)
    assert found[0].saved_kib == 1024


def test_local_sysfs_read(tmp_path: Path) -> None:
    for name, value in {
        "run": "1", "general_profit": "4096", "ksm_zero_pages": "7",
        "advisor_mode": "[none] scan-time",
    }.items():  # fmt: skip
        (tmp_path / name).write_text(value + "\n")
    assert ksm.read_local(tmp_path) == KsmLocal(1, 4096, 7, "none")
    assert ksm.read_local(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("key", "text", "words"),
    [
        ("pages_to_scan", "", "not a whole number"),
        ("pages_to_scan", "ten", "not a whole number"),
        ("pages_to_scan", "-1", "not a whole number"),
        ("pages_to_scan", "4294967296", "out of range"),
        ("sleep_millisecs", "0x10", "not a whole number"),
        ("merge_across_nodes", "3", "out of range"),
        ("max_page_sharing", "5", "not a KSM setting"),
    ],
)
def test_validation_refuses(key: str, text: str, words: str) -> None:
    with pytest.raises(ksm.KsmValueError, match=words):
        ksm.validate(key, text, reading(pages_shared=0, merge_across_nodes=1))


def test_validation_accepts_kernel_range() -> None:
    r = reading(pages_shared=0, merge_across_nodes=1)
    assert ksm.validate("pages_to_scan", " 4294967295 ", r) == 2**32 - 1
    assert ksm.validate("sleep_millisecs", "0", r) == 0
    assert ksm.validate("merge_across_nodes", "0", r) == 0


def test_merge_across_nodes_only_while_nothing_is_shared() -> None:
    shared = reading(pages_shared=12, merge_across_nodes=1)
    with pytest.raises(ksm.KsmValueError, match="only while no pages are shared"):
        ksm.validate("merge_across_nodes", "0", shared)
    assert ksm.validate("merge_across_nodes", "1", shared) == 1  # unchanged is fine


def test_advisor_blocks_pages_to_scan() -> None:
    r = KsmReading("h", 0.0, KsmCounters(), KsmLocal(1, 0, 0, "scan-time"))
    with pytest.raises(ksm.KsmValueError, match="advisor"):
        ksm.validate("pages_to_scan", "100", r)


def test_read_only_refused_before_libvirt() -> None:
    host = Host("qemu:///system", readonly=True)  # never started: no connection at all
    with pytest.raises(ReadOnlyError, match="read-only"):
        ksm.set_tunable(host, "pages_to_scan", "100")
    with pytest.raises(ReadOnlyError):
        ksm.set_run(host, ksm.KsmRun.RUN)


def test_permissions_say_why() -> None:
    local = KsmReading("h", 0.0, KsmCounters(), KsmLocal(0, 0, 0, "none"))
    ro = Host("qemu:///system", readonly=True)
    assert ksm.tuning_permission(ro, local).reason == "read-only connection"
    remote = Host("qemu+ssh://root@far/system")
    assert not ksm.run_permission(remote, local).allowed
    assert "no call to start or stop KSM" in (ksm.run_permission(remote, local).reason or "")
    assert ksm.is_local_kvm(Host("qemu:///system"))
    assert not ksm.is_local_kvm(Host("test:///default"))
    session = Host("qemu:///session")
    assert ksm.is_session(session)


def test_unsupported_driver_reported_not_raised(test_node_uri: str) -> None:
    host = Host(test_node_uri)
    host.start()
    try:
        assert host.wait_connected(10)
        r = ksm.read_ksm(host)
    finally:
        host.stop()
    assert r.counters is None and "does not report KSM" in (r.unavailable or "")
    assert not ksm.tuning_permission(host, r).allowed


def test_history_keeps_the_last_readings() -> None:
    history = KsmHistory(capacity=3)
    for sharing in (0, 10, 20, 30):
        history.append(reading(pages_sharing=sharing, pages_shared=1))
    assert len(history) == 3
    assert history.saved_kib().values == (40.0, 80.0, 120.0)
    assert history.last is not None and history.last.saved_kib == 120
