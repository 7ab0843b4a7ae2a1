"""Disk I/O limits on a real tiny guest: the limit really throttles, scopes behave as
virsh's --live/--config, and bad input never reaches the guest.

The guest reads its 64 MiB data disk (vda, virtio-blk) with busybox dd and
``iflag=direct`` (O_DIRECT, so the guest's page cache cannot hide the disk), run
through the guest agent; the time is taken on the host around guest-exec.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import libvirt
import pytest

from kvmtui.backend import iotune
from kvmtui.backend.host import Host
from kvmtui.backend.iotune import IoTune
from kvmtui.backend.throttle import Scope, ValidationError
from tests.harness.guests import agent_command
from tests.waiting import wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

READS = 300
LIMIT_IOPS = 100
LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG


@pytest.fixture(name="host")
def connected_host(daemon_uri: str) -> Iterator[Host]:
    """A Host connected to the harness's libvirtd (test_bandwidth_daemon uses it too)."""
    h = Host(daemon_uri)
    h.start()
    assert h.wait_connected(30), h.status.error
    yield h
    h.stop()


def timed_direct_reads(dom: libvirt.virDomain, skip_blocks: int) -> float:
    """Seconds for READS direct 4 KiB reads of /dev/vda inside the guest."""
    args = ["if=/dev/vda", "of=/dev/null", "bs=4k", f"count={READS}", f"skip={skip_blocks}",
            "iflag=direct"]  # fmt: skip
    started = time.monotonic()
    pid = agent_command(
        dom, "guest-exec", {"path": "/bin/dd", "arg": args, "capture-output": True}
    )["pid"]  # type: ignore[index]

    def finished() -> dict[str, object] | None:
        status = agent_command(dom, "guest-exec-status", {"pid": pid})
        return status if status.get("exited") else None  # type: ignore[union-attr]

    status = wait_for(finished, timeout=60, interval=0.01, what="dd in the guest")
    elapsed = time.monotonic() - started
    err = base64.b64decode(str(status.get("err-data", ""))).decode()
    assert status.get("exitcode") == 0, err
    assert f"{READS}+0 records in" in err
    return elapsed


def test_total_iops_limit_throttles_direct_reads(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    timed_direct_reads(booted_guest, skip_blocks=8000)  # warm-up: TCG translates dd once
    free_s = timed_direct_reads(booted_guest, skip_blocks=0)

    result = iotune.set_iotune(host, uuid, "vda", IoTune.of(total_iops_sec=LIMIT_IOPS), Scope.LIVE)
    assert result.after.live is not None
    assert result.after.live.get("total_iops_sec") == LIMIT_IOPS
    assert result.not_kept() == ()
    limited_s = timed_direct_reads(booted_guest, skip_blocks=2000)

    iotune.clear_iotune(host, uuid, "vda", Scope.LIVE)
    cleared_s = timed_direct_reads(booted_guest, skip_blocks=4000)

    limited_iops = READS / limited_s
    print(
        f"\n{READS} direct 4 KiB reads: unthrottled {free_s:.2f} s ({READS / free_s:.0f} IOPS), "
        f"total_iops_sec={LIMIT_IOPS} {limited_s:.2f} s ({limited_iops:.0f} IOPS), "
        f"cleared {cleared_s:.2f} s ({READS / cleared_s:.0f} IOPS)"
    )
    # Near the limit: QEMU's leaky bucket lets about one second's worth through at once,
    # so 300 reads take a little under 3 s; never much faster than the limit.
    assert limited_iops <= LIMIT_IOPS * 1.25
    assert limited_s >= (READS - LIMIT_IOPS) / LIMIT_IOPS  # 2 s at the very least
    # The machine is shared: take the faster unthrottled run as the guest's real speed.
    assert limited_s >= 3 * min(free_s, cleared_s), "unthrottled should be several times faster"
    assert cleared_s <= 0.6 * limited_s, "clearing the limit should lift the throttle"


def test_config_scope_survives_a_restart_and_live_only_does_not(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    saved = IoTune.of(total_iops_sec=150, total_iops_sec_max=300, total_iops_sec_max_length=4)
    iotune.set_iotune(host, uuid, "vda", saved, Scope.CONFIG)
    live_only = IoTune.of(read_bytes_sec=8 * 1024**2)
    iotune.set_iotune(host, uuid, "vda", live_only, Scope.LIVE)

    before = next(d for d in iotune.read_iotune(host, uuid).disks if d.disk == "vda")
    assert before.live == live_only and before.config == saved and before.differs

    booted_guest.destroy()
    booted_guest.create()
    wait_for(booted_guest.isActive, 60, what="the guest to run again")

    after = next(d for d in iotune.read_iotune(host, uuid).disks if d.disk == "vda")
    assert after.live == saved, "the saved limits apply from the next boot"
    assert after.config == saved
    assert after.live is not None and after.live.get("read_bytes_sec") == 0


BAD_INPUTS: list[tuple[str, dict[str, str], str, str]] = [
    ("negative", {"total_iops_sec": "-5"}, "total_iops_sec", "must not be negative"),
    ("text", {"read_bytes_sec": "fast"}, "read_bytes_sec", "must be a whole number"),
    ("total with read", {"total_iops_sec": "100", "read_iops_sec": "50"}, "read_iops_sec",
     "cannot be combined with a total IOPS limit"),
    ("burst below base", {"total_iops_sec": "100", "total_iops_sec_max": "50"},
     "total_iops_sec_max", "a burst must be at least its base"),
    ("length without burst", {"total_iops_sec": "100", "total_iops_sec_max_length": "10"},
     "total_iops_sec_max_length", "a burst length needs a Total IOPS burst"),
    ("absurdly large", {"total_bytes_sec": "999999999999999999"}, "total_bytes_sec",
     "is absurdly large"),
]  # fmt: skip


def test_bad_inputs_are_refused_and_the_limits_stay(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    baseline = IoTune.of(write_iops_sec=80, write_iops_sec_max=120)
    iotune.set_iotune(host, uuid, "vda", baseline, Scope.BOTH)

    def limits() -> tuple[dict[str, object], dict[str, object]]:
        return dict(booted_guest.blockIoTune("vda", LIVE)), dict(
            booted_guest.blockIoTune("vda", CONFIG)
        )

    expected = limits()
    for case, texts, field, message in BAD_INPUTS:
        settings, found = iotune.parse_form(texts)
        assert settings is None, case
        messages = {e.field: e.message for e in found}
        assert message in messages.get(field, ""), (case, messages)
        # The same values handed straight to the backend are refused there too.
        values = {k: int(v) for k, v in texts.items() if v.lstrip("-").isdigit()}
        if len(values) == len(texts):
            with pytest.raises(ValidationError):
                iotune.set_iotune(host, uuid, "vda", IoTune(values), Scope.BOTH)
        assert limits() == expected, f"{case}: the guest's limits changed"
