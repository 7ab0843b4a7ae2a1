"""Disk limits through the backend on libvirt's test:/// driver (tests/data/throttle_node.xml).

The test driver keeps live and saved values apart, so scopes, read-back, refusals and the
several-guests path can be checked deterministically. It also refuses a base limit above
its burst when no burst is set (a rule of its own), which shows how a refusal by libvirt
itself reaches the admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from conftest import node_uri
from kvmtui.backend import iotune
from kvmtui.backend.errors import KvmtuiError, ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.iotune import IoTune
from kvmtui.backend.throttle import Scope, ValidationError
from tests.hosts import started_host

NODE = Path(__file__).parents[1] / "data" / "throttle_node.xml"
PRIMARY = "6695eb01-f6a4-8304-79aa-97f2502e1a01"  # running, vda limited, vdb free
REPLICA = "6695eb01-f6a4-8304-79aa-97f2502e1a02"  # shut off, vda + a CD-ROM
LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
#: A setting the test driver accepts (it wants a burst beside each base).
GOOD = IoTune.of(total_iops_sec=300, total_iops_sec_max=600, total_iops_sec_max_length=5)


@pytest.fixture
def host() -> Iterator[Host]:
    with started_host(node_uri(NODE)) as host:
        yield host


@pytest.fixture
def ro_host() -> Iterator[Host]:
    with started_host(node_uri(NODE), readonly=True) as host:
        yield host


def raw(host: Host, uuid: str, disk: str, flag: int) -> dict[str, object]:
    return dict(host.connection().lookupByUUIDString(uuid).blockIoTune(disk, flag))


def test_reads_every_disk_live_and_saved(host: Host) -> None:
    read = iotune.read_iotune(host, PRIMARY)
    assert read.guest.name == "db-primary" and read.guest.active
    assert [d.disk for d in read.disks] == ["vda", "vdb"]
    vda = read.disks[0]
    assert vda.live is not None and vda.config is not None and not vda.differs
    assert vda.live.get("total_iops_sec") == 500
    assert vda.live.get("read_bytes_sec") == 50 * 1024**2
    assert read.disks[1].current.unlimited


def test_a_stopped_guest_has_only_saved_values(host: Host) -> None:
    read = iotune.read_iotune(host, REPLICA)
    assert not read.guest.active
    assert [(d.disk, d.live) for d in read.disks] == [("vda", None), ("sda", None)]


@pytest.mark.parametrize(
    ("scope", "live_changed", "config_changed"),
    [(Scope.LIVE, True, False), (Scope.CONFIG, False, True), (Scope.BOTH, True, True)],
)
def test_scope_decides_where_the_change_goes(
    host: Host, scope: Scope, live_changed: bool, config_changed: bool
) -> None:
    result = iotune.set_iotune(host, PRIMARY, "vdb", GOOD, scope)
    assert (raw(host, PRIMARY, "vdb", LIVE)["total_iops_sec"] == 300) == live_changed
    assert (raw(host, PRIMARY, "vdb", CONFIG)["total_iops_sec"] == 300) == config_changed
    assert result.before.current.unlimited
    assert result.after.side(scope).get("total_iops_sec_max_length") == 5
    assert result.not_kept() == ()
    assert result.after.differs == (scope is not Scope.BOTH)


def test_every_field_is_sent_so_unset_ones_are_removed(host: Host) -> None:
    """The form holds the whole setting: a field left blank is no limit, not "keep"."""
    iotune.set_iotune(host, PRIMARY, "vda", GOOD, Scope.BOTH)
    for flag in (LIVE, CONFIG):
        values = raw(host, PRIMARY, "vda", flag)
        assert values["read_bytes_sec"] == 0 and values["write_bytes_sec"] == 0
        assert values["total_iops_sec"] == 300


def test_invalid_settings_are_refused_before_libvirt(host: Host) -> None:
    bad = IoTune.of(total_iops_sec=100, read_iops_sec=10)
    before = raw(host, PRIMARY, "vda", LIVE)
    with pytest.raises(ValidationError) as caught:
        iotune.set_iotune(host, PRIMARY, "vda", bad, Scope.BOTH)
    assert [e.field for e in caught.value.field_errors] == ["read_iops_sec"]
    assert "Nothing was changed" in str(caught.value)
    assert raw(host, PRIMARY, "vda", LIVE) == before


def test_what_libvirt_still_refuses_is_a_sentence_and_nothing_changes(host: Host) -> None:
    before = (raw(host, PRIMARY, "vdb", LIVE), raw(host, PRIMARY, "vdb", CONFIG))
    with pytest.raises(KvmtuiError) as caught:
        iotune.set_iotune(host, PRIMARY, "vdb", IoTune.of(total_iops_sec=100), Scope.BOTH)
    message = str(caught.value)
    assert message.startswith("Could not set the I/O limits of disk vdb of guest 'db-primary'")
    assert "total_iops_sec" in message and message.endswith("Nothing was changed.")
    assert (raw(host, PRIMARY, "vdb", LIVE), raw(host, PRIMARY, "vdb", CONFIG)) == before


def test_live_scope_on_a_stopped_guest_is_refused(host: Host) -> None:
    with pytest.raises(ValidationError) as caught:
        iotune.set_iotune(host, REPLICA, "vda", GOOD, Scope.BOTH)
    assert caught.value.field_errors[0].field == "scope"
    assert "not running" in str(caught.value)
    iotune.set_iotune(host, REPLICA, "vda", GOOD, Scope.CONFIG)
    assert raw(host, REPLICA, "vda", CONFIG)["total_iops_sec"] == 300


def test_read_only_connection_is_refused_before_libvirt(ro_host: Host) -> None:
    with pytest.raises(ReadOnlyError, match="read-only"):
        iotune.set_iotune(ro_host, PRIMARY, "vda", GOOD, Scope.LIVE)
    assert raw(ro_host, PRIMARY, "vda", LIVE)["total_iops_sec"] == 500


def test_clear_removes_every_limit(host: Host) -> None:
    result = iotune.clear_iotune(host, PRIMARY, "vda", Scope.BOTH)
    assert result.before.current.get("total_iops_sec") == 500
    assert result.after.live == IoTune.of() and result.after.config == IoTune.of()


def test_unknown_disk_is_a_sentence(host: Host) -> None:
    with pytest.raises(KvmtuiError, match="it has no disk vdz"):
        iotune.set_iotune(host, PRIMARY, "vdz", GOOD, Scope.LIVE)


def test_several_guests_get_a_result_each(host: Host) -> None:
    outcomes = iotune.apply_to_guests([(host, PRIMARY), (host, REPLICA)], GOOD, Scope.BOTH)
    assert [(o.guest, o.ok) for o in outcomes] == [("db-primary", True), ("db-replica", False)]
    assert [r.disk for r in outcomes[0].results] == ["vda", "vdb"]
    assert "not running" in (outcomes[1].error or "")
    assert raw(host, REPLICA, "vda", CONFIG)["total_iops_sec"] == 0

    outcomes = iotune.apply_to_guests([(host, PRIMARY), (host, REPLICA)], GOOD, Scope.CONFIG)
    assert all(o.ok for o in outcomes)
    # Every disk but the CD-ROM; the replica's sda is left alone.
    assert [r.disk for r in outcomes[1].results] == ["vda"]


def test_several_guests_one_disk_name(host: Host) -> None:
    outcomes = iotune.apply_to_guests([(host, PRIMARY)], GOOD, Scope.LIVE, disk="vdb")
    assert [r.disk for r in outcomes[0].results] == ["vdb"]
    assert raw(host, PRIMARY, "vda", LIVE)["total_iops_sec"] == 500
    outcomes = iotune.apply_to_guests([(host, PRIMARY)], GOOD, Scope.LIVE, disk="vdq")
    assert not outcomes[0].ok and "has no disk vdq" in (outcomes[0].error or "")


def test_a_guest_libvirt_refuses_keeps_its_old_limits(host: Host) -> None:
    before = raw(host, PRIMARY, "vda", LIVE)
    setting = IoTune.of(total_iops_sec=100)  # refused by the test driver (no burst)
    outcomes = iotune.apply_to_guests([(host, PRIMARY)], setting, Scope.LIVE)
    assert not outcomes[0].ok and "Nothing was changed" in (outcomes[0].error or "")
    assert raw(host, PRIMARY, "vda", LIVE) == before


def test_a_failure_on_the_second_disk_undoes_the_first(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = iotune.set_iotune

    def failing_on_vdb(h: Host, uuid: str, disk: str, *args: object) -> iotune.IoTuneResult:
        if disk == "vdb":
            raise KvmtuiError("vdb refused")
        return real(h, uuid, disk, *args)  # type: ignore[arg-type]

    # Start from values the test driver takes back (it wants a burst beside each base).
    iotune.set_iotune(host, PRIMARY, "vda", GOOD, Scope.LIVE)
    iotune.set_iotune(
        host, PRIMARY, "vda", iotune.replace_values(GOOD, total_iops_sec=200), Scope.CONFIG
    )
    monkeypatch.setattr(iotune, "set_iotune", failing_on_vdb)
    before = (raw(host, PRIMARY, "vda", LIVE), raw(host, PRIMARY, "vda", CONFIG))
    new = IoTune.of(write_iops_sec=50, write_iops_sec_max=70)
    outcomes = iotune.apply_to_guests([(host, PRIMARY)], new, Scope.BOTH)
    assert outcomes[0].error == "vdb refused"
    assert (raw(host, PRIMARY, "vda", LIVE), raw(host, PRIMARY, "vda", CONFIG)) == before


def test_invalid_batch_is_refused_before_any_guest(host: Host) -> None:
    with pytest.raises(ValidationError, match="2 guests"):
        iotune.apply_to_guests(
            [(host, PRIMARY), (host, REPLICA)], IoTune.of(read_iops_sec_max=5), Scope.CONFIG
        )
