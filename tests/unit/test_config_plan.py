"""The configuration editor's plan without libvirt: which sides each change goes to per
scope, the refusals (one sentence, nothing sent), targets and MACs picked free, the
device elements built through the domain model, and the outcome's words."""

from __future__ import annotations

import random

import pytest

from kvmtui.backend.config_changes import (
    AddCdrom,
    AddDimm,
    AttachDisk,
    AttachNic,
    ChangeMedia,
    CreateVolume,
    RemoveCdrom,
    Rename,
    SetAutostart,
    SetBoot,
    SetDiskOptions,
    SetMemory,
    SetVcpus,
    Side,
    SourceKind,
)
from kvmtui.backend.config_edit import ConfigRefused, Outcome, named_changes, plan_changes
from kvmtui.backend.config_state import GuestConfig, config_of
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.build import free_target, new_disk, new_interface, new_mac
from kvmtui.backend.throttle import Scope
from kvmtui.screens.config_editor import _disk_options

XML = """<domain type='qemu'>
  <name>web</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <vcpu current='1'>2</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/d/a.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/></disk>
    <interface type='network'>
      <mac address='52:54:00:00:00:01'/><source network='default'/>
    </interface>
  </devices>
</domain>
"""


def config(*, running: bool = True) -> GuestConfig:
    live = Domain.from_xml(XML) if running else None
    return config_of("h", "u", live, Domain.from_xml(XML), autostart=False, pools=("p",))


def sides(cfg: GuestConfig, changes: list, scope: Scope) -> list[tuple[str, Side]]:  # type: ignore[type-arg]
    return [(step.change.label, step.side) for step in plan_changes(cfg, changes, scope)]


def test_each_change_goes_to_the_sides_the_scope_and_the_guest_allow() -> None:
    assert sides(config(), [SetVcpus(2)], Scope.BOTH) == [
        ("vCPUs", Side.LIVE), ("vCPUs", Side.SAVED)
    ]  # fmt: skip
    assert sides(config(), [SetVcpus(2)], Scope.LIVE) == [("vCPUs", Side.LIVE)]
    # Shut off: saved only, whatever the scope; rename and autostart have no side.
    assert sides(config(running=False), [SetVcpus(2), Rename("x")], Scope.BOTH) == [
        ("vCPUs", Side.SAVED), ("name", Side.NONE)
    ]  # fmt: skip
    assert sides(config(), [SetAutostart(True)], Scope.LIVE) == [("autostart", Side.NONE)]


@pytest.mark.parametrize(
    ("change", "scope", "why"),
    [
        (SetVcpus(3), Scope.LIVE, "at most 2 (its maximum at boot)"),
        (SetVcpus(3), Scope.CONFIG, "3 is more than the maximum of 2"),
        (SetVcpus(0), Scope.BOTH, "at least 1 vCPU"),
        (SetMemory(1024 * 1024), Scope.LIVE, "more than the running guest's maximum"),
        (Rename("new"), Scope.BOTH, "shut it down first"),
        (ChangeMedia("vda", "/x.iso"), Scope.LIVE, "vda is not a CD-ROM drive"),
        (ChangeMedia("sda", "x.iso"), Scope.LIVE, "not an absolute host path"),
        (AttachDisk(SourceKind.PATH, "rel.img"), Scope.LIVE, "not an absolute host path"),
        (AttachDisk(SourceKind.PATH, "/a.img", bus="sata"), Scope.LIVE, "cannot be plugged"),
        (AttachDisk(SourceKind.NEW, "n", pool="p", size="5"), Scope.BOTH, "less than 1 MiB"),
        (AttachNic("bridge", ""), Scope.BOTH, "needs a source"),
        (AttachNic("network", "x", mac="52:54:00:00:00:01"), Scope.BOTH, "already has a NIC"),
    ],
)
def test_refusals_are_one_sentence_before_anything_is_sent(
    change: object, scope: Scope, why: str
) -> None:
    with pytest.raises(ConfigRefused) as refused:
        plan_changes(config(), [change], scope)  # type: ignore[list-item]
    text = str(refused.value)
    assert text.startswith("Could not change the configuration of guest 'web' on h: ")
    assert why in text and text.endswith("Nothing was changed.")


def test_a_live_scope_on_a_shut_off_guest_is_refused() -> None:
    with pytest.raises(ConfigRefused, match="only its saved configuration can change"):
        plan_changes(config(running=False), [SetVcpus(2)], Scope.LIVE)


def test_new_disks_get_free_targets_and_a_new_volume_comes_first() -> None:
    new = AttachDisk(SourceKind.NEW, "n.qcow2", pool="p", size="1G")
    path = AttachDisk(SourceKind.PATH, "/img/b.img")
    steps = plan_changes(config(running=False), [new, path], Scope.CONFIG)
    kinds = [type(step.change).__name__ for step in steps]
    assert kinds == ["CreateVolume", "AttachDisk", "AttachDisk"]
    assert isinstance(steps[0].change, CreateVolume) and steps[0].side is Side.NONE
    targets = [getattr(step.change, "target", None) for step in steps[1:]]
    assert targets == ["vdb", "vdc"]
    # The preview's attach row still says the volume is new (its create row is above).
    rows = [step.change.old_new(config(running=False))[1] for step in steps]
    assert rows[0] == "p/n.qcow2 (1G, thin qcow2)"
    assert rows[1] == "vdb (virtio): new thin volume p/n.qcow2"
    assert rows[2] == "vdc (virtio): /img/b.img"


def test_free_target_and_mac() -> None:
    assert free_target("virtio", ["vda", "vdb"]) == "vdc"
    assert free_target("scsi", [f"sd{chr(97 + i)}" for i in range(26)]) == "sdaa"
    mac = new_mac(["52:54:00:00:00:01"], random.Random(1))
    assert mac.startswith("52:54:00:") and len(mac) == 17


def test_device_elements_are_written_through_the_model() -> None:
    disk = new_disk(source="/d/b.qcow2", target="vdb", fmt="qcow2")
    assert disk.xml() == (
        '<disk type="file" device="disk"><driver name="qemu" type="qcow2"/>'
        '<source file="/d/b.qcow2"/><target dev="vdb" bus="virtio"/></disk>'
    )
    nic = new_interface("bridge", "br0", mac="52:54:00:aa:bb:cc")
    assert nic.xml() == (
        '<interface type="bridge"><mac address="52:54:00:aa:bb:cc"/>'
        '<source bridge="br0"/><model type="virtio"/></interface>'
    )


def test_the_outcome_says_what_was_undone_and_what_could_not_be() -> None:
    before = config()
    failed = Outcome(
        before,
        before,
        applied=(),
        error="Could not change the configuration of guest 'web' on h: disk: no such file.",
        undone=("title -> x (saved)",),
        not_undone=("vCPUs 1 -> 2 in the running guest (QEMU without KVM cannot unplug)",),
    )
    assert failed.text == (
        "Could not change the configuration of guest 'web' on h: disk: no such file. "
        "Undone: title -> x (saved). Could not be undone: vCPUs 1 -> 2 in the running guest "
        "(QEMU without KVM cannot unplug)."
    )
    clean = Outcome(before, before, applied=(), error="Could not ...: x.")
    assert clean.text.endswith("Nothing was changed.")


def test_previews_say_old_beside_new() -> None:
    cfg = config()
    assert SetVcpus(2, maximum=4).old_new(cfg) == ("1 of at most 2", "2 of at most 4")
    assert SetMemory(256 * 1024).old_new(cfg) == ("512 MiB of at most 512 MiB", (
        "256 MiB of at most 512 MiB"
    ))  # fmt: skip
    assert SetBoot((), menu=True).old_new(cfg) == ("hd; menu off", "hd; menu on")
    assert ChangeMedia("sda", "/i.iso").old_new(cfg) == ("sda: (empty)", "sda: /i.iso")


def test_what_the_cdrom_question_reads() -> None:
    from kvmtui.screens.config_editor import _media

    assert _media("sda", "") == ChangeMedia("sda", None)
    assert _media("sda", "/isos/a.iso") == ChangeMedia("sda", "/isos/a.iso")
    assert _media("sda", "isos/a.iso") == ChangeMedia("sda", "a.iso", pool="isos")
    with pytest.raises(ConfigRefused, match="not an absolute host path or a pool/volume"):
        plan_changes(config(), [_media("sda", "a.iso")], Scope.LIVE)


HOTPLUG_XML = XML.replace(
    "<memory unit='MiB'>512</memory>",
    "<maxMemory slots='2' unit='MiB'>1024</maxMemory><memory unit='MiB'>512</memory>",
).replace(
    "<os>", "<cpu><numa><cell id='0' cpus='0-1' memory='512' unit='MiB'/></numa></cpu><os>"
)


def test_a_dimm_goes_live_only_where_memory_hot_plug_is_configured() -> None:
    hotplug = Domain.from_xml(HOTPLUG_XML)
    cfg = config_of("h", "u", hotplug, Domain.from_xml(HOTPLUG_XML), autostart=False)
    assert cfg.memory_hotplug is None and (cfg.memory_hotplug_kib, cfg.memory_slots) == (
        1024 * 1024, 2
    )  # fmt: skip
    steps = plan_changes(cfg, [AddDimm(256 * 1024)], Scope.BOTH)
    assert [s.side for s in steps] == [Side.LIVE, Side.SAVED]
    assert steps[0].change.old_new(cfg) == (
        "512 MiB of at most 1 GiB", "768 MiB (+256 MiB DIMM) of at most 1 GiB"
    )  # fmt: skip
    with pytest.raises(ConfigRefused, match=r"over the guest's <maxMemory> of 1 GiB\. Nothing"):
        plan_changes(cfg, [AddDimm(768 * 1024)], Scope.LIVE)
    # No <maxMemory>: the maximum stays saved-only, and the refusal says why.
    unconfigured = r"memory hot-plug is not configured .*saved definition only"
    with pytest.raises(ConfigRefused, match=unconfigured):
        plan_changes(config(), [AddDimm(128 * 1024)], Scope.LIVE)
    cell = "<cell id='0' cpus='0-1' memory='512' unit='MiB'/>"
    no_numa = Domain.from_xml(HOTPLUG_XML.replace(cell, ""))
    cfg = config_of("h", "u", no_numa, no_numa, autostart=False)
    assert cfg.memory_hotplug is not None and "needs a NUMA cell" in cfg.memory_hotplug


def test_disk_options_are_saved_only_and_refused_in_one_sentence() -> None:
    cfg = config()
    disk = cfg.disk("vda")
    assert disk is not None and disk.options_text == "cache default"
    change = SetDiskOptions("vda", cache="writeback", shareable=False, readonly=True)
    assert sides(cfg, [change], Scope.BOTH) == [("disk options", Side.SAVED)]
    old, new = change.old_new(cfg)
    assert old == "vda: cache default"
    assert new == (
        "vda: read-only, cache writeback; after a restart (libvirt cannot change these live)"
    )
    with pytest.raises(ConfigRefused, match="this changes only in the saved configuration"):
        plan_changes(cfg, [change], Scope.LIVE)
    refusals = {
        SetDiskOptions("vda", cache="fast"): "'fast' is not a cache mode",
        SetDiskOptions("sda", readonly=False): "a CD-ROM drive is always read-only",
        SetDiskOptions("vdz", cache="none"): "the guest has no disk vdz",
    }
    for refused, why in refusals.items():
        with pytest.raises(ConfigRefused, match=why):
            plan_changes(cfg, [refused], Scope.CONFIG)
    qcow2 = config_of(
        "h", "u", None, Domain.from_xml(XML.replace("<source file='/d/a.qcow2'/>",
        "<driver name='qemu' type='qcow2'/><source file='/d/a.qcow2'/>")), autostart=False,
    )  # fmt: skip
    with pytest.raises(ConfigRefused, match="libvirt shares a writable disk only in raw format"):
        plan_changes(qcow2, [SetDiskOptions("vda", shareable=True)], Scope.CONFIG)
    plan_changes(qcow2, [SetDiskOptions("vda", shareable=True, readonly=True)], Scope.CONFIG)


def test_the_disk_options_question_reads_the_rows_words() -> None:
    assert _disk_options("vdb", "read-only, shareable, cache none") == SetDiskOptions(
        "vdb", cache="none", shareable=True, readonly=True
    )
    assert _disk_options("vdb", "") == SetDiskOptions("vdb", shareable=False, readonly=False)
    with pytest.raises(ValueError, match="'fast' is not read-only"):
        _disk_options("vdb", "fast")


def test_a_new_cdrom_drive_gets_a_free_target_and_a_controller_when_scsi_has_none() -> None:
    cfg = config()
    steps = plan_changes(cfg, [AddCdrom("scsi"), AddCdrom("sata", "/isos/a.iso")], Scope.BOTH)
    assert [(s.change.target, s.side) for s in steps] == [  # type: ignore[attr-defined]
        ("sdb", Side.SAVED), ("sdc", Side.SAVED)
    ]  # fmt: skip
    assert steps[1].change.old_new(cfg) == ("-", "sdc (sata): /isos/a.iso; after a restart")
    bare = Domain.from_xml(XML.replace("<disk type='file' device='cdrom'>", "<!--").replace(
        "<readonly/></disk>", "-->"))  # fmt: skip
    bare_cfg = config_of("h", "u", None, bare, autostart=False)
    assert "scsi" not in bare_cfg.controllers
    new = plan_changes(bare_cfg, [AddCdrom("scsi")], Scope.CONFIG)[0].change
    assert new.old_new(bare_cfg)[1] == "sda (scsi): (empty); + virtio-scsi controller"
    edited = Domain.from_xml(bare.to_xml())
    new._edit(edited)  # type: ignore[attr-defined]
    assert 'model="virtio-scsi"' in edited.to_xml().replace("'", '"')
    assert edited.disk("sda") is not None and edited.disk("sda").device == "cdrom"  # type: ignore[union-attr]
    with pytest.raises(ConfigRefused, match="goes on scsi or sata, not 'ide'"):
        plan_changes(cfg, [AddCdrom("ide")], Scope.CONFIG)
    with pytest.raises(ConfigRefused, match="vda is not a CD-ROM drive; detach it as a disk"):
        plan_changes(cfg, [RemoveCdrom("vda")], Scope.CONFIG)
    assert sides(cfg, [RemoveCdrom("sda")], Scope.BOTH) == [("remove CD-ROM drive", Side.SAVED)]


def test_the_pending_list_names_new_drives_as_the_preview_and_libvirt_get_them() -> None:
    """The pending list read "sd?" while the preview read "sdb": the target was picked only
    when the plan was made. named_changes picks it the same way, in the same order."""
    cfg = config(running=False)
    asked = [
        AddCdrom("scsi"),
        AttachDisk(SourceKind.NEW, "data.qcow2", pool="p", bus="scsi"),
        AddCdrom("sata", "/isos/a.iso"),
        AttachDisk(SourceKind.PATH, "/d/b.img"),
    ]
    pending = [change.old_new(cfg)[1] for change in named_changes(cfg, asked)]
    assert [text.split(" ", 1)[0] for text in pending] == ["sdb", "sdc", "sdd", "vdb"]
    planned = [s.change for s in plan_changes(cfg, asked, Scope.CONFIG)]
    written = [c.target for c in planned if isinstance(c, AttachDisk | AddCdrom)]
    assert written == ["sdb", "sdc", "sdd", "vdb"]  # what _edit and attach give libvirt
    assert [c.old_new(cfg)[1] for c in planned if c.label == "new CD-ROM drive"] == [
        pending[0], pending[2]
    ]  # fmt: skip
