"""Network bandwidth on a real tiny guest's NIC (<interface type='ethernet'>, host tap).

The saved configuration round trips on any host. Live shaping needs the host kernel's
tc modules (htb, sfq, police): where they are missing libvirt's tc call fails, and the
test checks that the admin gets that as a sentence with nothing changed.
"""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.backend import bandwidth
from kvmtui.backend.bandwidth import Bandwidth
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope, ValidationError
from tests.daemon.test_iotune_daemon import connected_host  # noqa: F401 (the host fixture)

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
LIMITS = Bandwidth.of(
    inbound_average=1000, inbound_peak=2000, inbound_burst=256,
    outbound_average=500, outbound_peak=800, outbound_burst=128,
)  # fmt: skip
#: What tc says on a host kernel built without the shaping modules.
MISSING_TC = ("qdisc kind is unknown", "Failed to load TC action module")


def only_mac(host: Host, uuid: str) -> str:
    nics = bandwidth.read_bandwidth(host, uuid).nics
    assert len(nics) == 1 and nics[0].nic.kind == "ethernet"
    return nics[0].nic.mac


def test_saved_limits_round_trip_through_libvirt(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    mac = only_mac(host, uuid)
    result = bandwidth.set_bandwidth(host, uuid, mac, LIMITS, Scope.CONFIG)
    assert result.before.config == Bandwidth.of()
    assert result.after.config == LIMITS and result.not_kept() == ()
    raw = booted_guest.interfaceParameters(mac, CONFIG)
    assert {k: raw[k] for k in bandwidth.FIELD_NAMES} == LIMITS.as_dict()
    assert "<bandwidth>" in booted_guest.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    read = bandwidth.read_bandwidth(host, uuid).nics[0]
    assert read.config == LIMITS and read.live == Bandwidth.of() and read.differs

    cleared = bandwidth.clear_bandwidth(host, uuid, mac, Scope.CONFIG)
    assert cleared.after.config == Bandwidth.of()


def test_live_limits_apply_or_fail_with_a_sentence(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    mac = only_mac(host, uuid)
    try:
        result = bandwidth.set_bandwidth(host, uuid, mac, LIMITS, Scope.BOTH)
    except KvmtuiError as exc:
        message = str(exc)
        if not any(text in message for text in MISSING_TC):
            raise
        print(f"\nlive shaping unavailable on this host kernel: {message}")
        assert message.startswith(f"Could not set the network limits of interface {mac}")
        assert message.endswith("Nothing was changed.")
        read = bandwidth.read_bandwidth(host, uuid).nics[0]
        assert read.live == Bandwidth.of() and read.config == Bandwidth.of()
        return
    assert result.after.live == LIMITS and result.after.config == LIMITS


def test_peak_without_average_is_refused_not_silently_dropped(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    """libvirt accepts inbound.peak alone and keeps nothing; kvmtui refuses it."""
    uuid = booted_guest.UUIDString()
    mac = only_mac(host, uuid)
    with pytest.raises(ValidationError) as caught:
        bandwidth.set_bandwidth(host, uuid, mac, Bandwidth.of(inbound_peak=100), Scope.CONFIG)
    assert caught.value.field_errors[0].field == "inbound.peak"
    assert booted_guest.interfaceParameters(mac, CONFIG)["inbound.peak"] == 0
