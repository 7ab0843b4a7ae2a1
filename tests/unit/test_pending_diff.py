"""The model's comparison of a live and a saved definition (backend/domain/pending.py):
each change an admin makes is one phrase; what libvirt fills in at run time is not."""

from __future__ import annotations

from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.pending import pending_changes, size_text

SAVED = """<domain type='kvm'>
  <name>web</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e1901</uuid>
  <title>front end</title>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <cpu mode='host-model' check='partial'/>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/data.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes'/>
    <memballoon model='virtio'><stats period='5'/></memballoon>
  </devices>
</domain>
"""

#: What libvirt reports while the guest runs, with nothing changed: ids, aliases,
#: addresses, the tap, the VNC port, a seclabel, the backing chain, the expanded CPU.
LIVE = """<domain type='kvm' id='7'>
  <name>web</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e1901</uuid>
  <title>front end</title>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <resource><partition>/machine</partition></resource>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <cpu mode='custom' match='exact' check='full'><model fallback='forbid'>EPYC</model></cpu>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2' index='2'/>
      <backingStore type='file' index='3'><format type='raw'/>
        <source file='/var/lib/libvirt/images/base.raw'/><backingStore/></backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/data.raw' index='1'/>
      <backingStore/>
      <target dev='vdb' bus='virtio'/>
      <alias name='virtio-disk1'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default' portid='0a1b' bridge='virbr0'/>
      <target dev='vnet3'/>
      <model type='virtio'/>
      <alias name='net0'/>
    </interface>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <memballoon model='virtio'><stats period='5'/><alias name='balloon0'/></memballoon>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+108</label></seclabel>
</domain>
"""


def changes(live: str, saved: str) -> tuple[str, ...]:
    return pending_changes(Domain.from_xml(live), Domain.from_xml(saved))


def test_what_libvirt_fills_in_at_run_time_is_not_a_pending_change() -> None:
    assert changes(LIVE, SAVED) == ()


def test_each_saved_only_change_is_one_phrase() -> None:
    saved = Domain.from_xml(SAVED)
    saved.set_vcpus(4, 4)
    saved.set_memory(1024 * 1024)
    saved.set_boot_devices(["network", "hd"])
    saved.remove_device(saved.disk("vdb"))  # type: ignore[arg-type]
    saved.add_device(
        "<disk type='file' device='cdrom'><source file='/iso/debian.iso'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk>"
    )
    nic = saved.interface("52:54:00:12:34:56")
    assert nic is not None
    nic.set_link(False)
    saved.add_device("<interface type='bridge'><mac address='52:54:00:ab:cd:ef'/>"
                     "<source bridge='br0'/></interface>")
    saved.add_device("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
    saved.set_balloon_period(10)
    saved.set_title("renamed title")  # live metadata: never waits for a restart
    saved.set_description("a description")
    assert changes(LIVE, saved.to_xml()) == (
        "vCPUs 2 now, 4 after restart",
        "memory 512 MiB now, 1 GiB after restart",
        "current memory 512 MiB now, 1 GiB after restart",
        "boot order hd now, network, hd after restart",
        "disk vdb removed after restart",
        "CD-ROM sda added after restart",
        "NIC 52:54:00:ab:cd:ef added after restart",
        "NIC 52:54:00:12:34:56: link up now, down after restart",
        "memory statistics period 5 s now, 10 s after restart",
        "a rng (virtio) device added after restart",
    )


def test_a_cpu_mode_change_is_a_pending_change() -> None:
    saved = SAVED.replace("<cpu mode='host-model' check='partial'/>",
                          "<cpu mode='host-passthrough'/>")
    assert changes(LIVE, saved) == ("CPU mode custom now, host-passthrough after restart",)


def test_sizes_read_as_an_admin_writes_them() -> None:
    assert [size_text(k) for k in (300, 524288, 1048576, 1572864)] == [
        "300 KiB", "512 MiB", "1 GiB", "1.5 GiB"
    ]
