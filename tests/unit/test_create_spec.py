"""The new guest's spec checks, domain XML (read back through the domain model) and the
equivalent virsh/virt-install lines."""

from __future__ import annotations

import random
import shlex
from dataclasses import replace

import pytest

from kvmtui.backend.create_spec import (
    GIB,
    DirectBoot,
    DiskKind,
    DiskSpec,
    Firmware,
    NetworkKind,
    NetworkSpec,
    NewGuest,
    SeedBus,
    SeedSpec,
    SpecError,
    VolumeRef,
    check_mac,
    check_spec,
    command_lines,
    domain_xml,
    with_macs,
)
from kvmtui.backend.domain import Domain
from kvmtui.backend.osinfo import GENERIC_LINUX, OsInfo

IMAGE = VolumeRef("images", "debian-12.qcow2")
WINDOWS = OsInfo(id="w", short_id="win11", name="Windows 11", family="winnt", needs_uefi=True)


def cloud_spec(**changes: object) -> NewGuest:
    spec = NewGuest(
        name="web-1",
        vcpus=2,
        memory_mib=2048,
        disks=(
            DiskSpec(DiskKind.OVERLAY, IMAGE, pool="vms", size_bytes=20 * GIB),
            DiskSpec(DiskKind.EMPTY, pool="vms", size_bytes=GIB, format="raw"),
        ),
        networks=(NetworkSpec(NetworkKind.NETWORK, "default"),),
        seed=SeedSpec(VolumeRef("vms", "web-1-seed.iso"), SeedBus.SCSI),
    )
    return with_macs(replace(spec, **changes), random.Random(1))  # type: ignore[arg-type]


def test_every_guest_gets_a_serial_console_an_agent_channel_and_no_graphics() -> None:
    domain = Domain.from_xml(domain_xml(cloud_spec()))
    assert domain.name == "web-1" and domain.vcpus == 2 and domain.memory_kib == 2048 * 1024
    assert domain.serials and domain.consoles and domain.agent_channel is not None
    assert not domain.graphics and not domain.has_display
    assert domain.machine == "q35" and domain.hypervisor == "kvm"
    assert domain.cpu_mode == "host-passthrough"


def test_disks_overlay_empty_and_seed_on_virtio_scsi() -> None:
    xml = domain_xml(cloud_spec())
    domain = Domain.from_xml(xml)
    first, second, seed = domain.disks
    assert (first.source_text, first.format, first.bus, first.target) == (
        "vms/web-1.qcow2",
        "qcow2",
        "virtio",
        "vda",
    )
    assert (second.source_text, second.format, second.target) == ("vms/web-1-1.raw", "raw", "vdb")
    assert (seed.device, seed.bus, seed.source_text) == ("cdrom", "scsi", "vms/web-1-seed.iso")
    assert "<readonly/>" in seed.xml()
    assert '<controller type="scsi" model="virtio-scsi"/>' in xml
    assert domain.boot_devices == ("hd",)


def test_the_seed_as_a_virtio_disk_and_an_iso_booted_first() -> None:
    spec = cloud_spec(
        seed=SeedSpec(VolumeRef(path="/srv/seed.iso")), cdrom=VolumeRef("isos", "installer.iso")
    )
    domain = Domain.from_xml(domain_xml(spec))
    cdrom, vda, _vdb, seed = domain.disks
    assert cdrom.device == "cdrom" and cdrom.bus == "sata" and cdrom.boot_order == 1
    assert vda.boot_order == 2 and domain.boot_devices == ()
    assert (seed.bus, seed.device, seed.source_text) == ("virtio", "disk", "/srv/seed.iso")


def test_nic_mac_uefi_direct_boot_and_graphics_when_asked() -> None:
    spec = cloud_spec(
        firmware=Firmware.UEFI,
        graphics=True,
        direct_boot=DirectBoot("/boot/vmlinuz", "/boot/initrd", "console=ttyS0"),
        domain_type="qemu",
    )
    domain = Domain.from_xml(domain_xml(spec))
    (nic,) = domain.interfaces
    assert nic.source_network == "default" and nic.model == "virtio"
    assert (
        nic.mac == spec.networks[0].mac and nic.mac is not None and nic.mac.startswith("52:54:00")
    )
    assert domain.firmware == "efi" and domain.graphics and domain.cpu_mode is None
    assert (domain.kernel, domain.initrd, domain.cmdline) == (
        "/boot/vmlinuz",
        "/boot/initrd",
        "console=ttyS0",
    )


def test_an_os_without_virtio_gets_sata_disks() -> None:
    spec = cloud_spec(os=WINDOWS, firmware=Firmware.UEFI, seed=None)
    domain = Domain.from_xml(domain_xml(spec))
    assert {d.bus for d in domain.disks} == {"sata"}


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"vcpus": 0}, "at least 1 vCPU"),
        ({"disks": (), "networks": ()}, "nothing to boot from"),
        ({"disks": (DiskSpec(DiskKind.OVERLAY, pool="vms"),)}, "needs a volume or a path"),
        ({"disks": (DiskSpec(DiskKind.COPY, IMAGE),)}, "needs a pool"),
        (
            {
                "disks": (
                    DiskSpec(DiskKind.EMPTY, pool="vms", size_bytes=GIB, volume="a"),
                    DiskSpec(DiskKind.EMPTY, pool="vms", size_bytes=GIB, volume="a"),
                )
            },
            "same volume name",
        ),
        ({"networks": (NetworkSpec(NetworkKind.BRIDGE),)}, "needs a source"),
        (
            {"networks": (NetworkSpec(NetworkKind.NETWORK, "n", mac="01:00:5e:00:00:01"),)},
            "multicast",
        ),
        ({"os": WINDOWS}, "needs UEFI"),
    ],
)
def test_spec_refusals(change: dict[str, object], sentence: str) -> None:
    with pytest.raises(SpecError, match=sentence):
        check_spec(replace(cloud_spec(), **change))  # type: ignore[arg-type]


def test_a_typed_mac_is_normalised_and_a_bad_one_refused() -> None:
    assert check_mac("52-54-00-AA-bb-01") == "52:54:00:aa:bb:01"
    with pytest.raises(SpecError, match="not a MAC address"):
        check_mac("52:54:00:aa:bb")


def test_virsh_and_virt_install_lines_describe_the_same_guest() -> None:
    spec = cloud_spec()
    lines = command_lines(spec, "qemu:///system", {0: "/var/lib/images/debian-12.qcow2"})
    overlay, empty, install = (shlex.split(line) for line in lines.splitlines())
    assert overlay[3:] == [
        "vol-create-as",
        "vms",
        "web-1.qcow2",
        f"{20 * GIB}b",
        "--format",
        "qcow2",
        "--backing-vol",
        "/var/lib/images/debian-12.qcow2",
        "--backing-vol-format",
        "qcow2",
    ]
    assert empty[3:6] == ["vol-create-as", "vms", "web-1-1.raw"]
    assert install[:3] == ["virt-install", "--connect", "qemu:///system"]
    pairs = dict(zip(install[1::2], install[2::2], strict=False))
    assert pairs["--name"] == "web-1" and pairs["--vcpus"] == "2" and pairs["--memory"] == "2048"
    assert pairs["--osinfo"] == "linux2022" and pairs["--graphics"] == "none"
    assert "vol=vms/web-1.qcow2,bus=virtio,boot.order=1" in install
    assert f"network=default,model=virtio,mac={spec.networks[0].mac}" in install
    assert "--import" in install and "scsi,model=virtio-scsi" in install


def test_generic_linux_is_the_default_os() -> None:
    assert NewGuest("x").os is GENERIC_LINUX


def test_network_boot_goes_first_and_needs_a_nic() -> None:
    spec = cloud_spec(boot_network=True, seed=None)
    assert Domain.from_xml(domain_xml(spec)).boot_devices == ("network", "hd")
    assert "--pxe" in shlex.split(command_lines(spec, None, {}).splitlines()[-1])
    with pytest.raises(SpecError, match="needs a NIC"):
        check_spec(replace(spec, networks=()))
