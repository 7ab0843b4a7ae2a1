"""UEFI on the real daemon (run under the daemon lock; needs the package ovmf, which the
harness's deps installs): the create job makes a UEFI guest (``firmware='efi'``) from the
tiny image, and libvirt starts it with the OVMF loader and an NVRAM file made from the
template. Shut off, it is cloned as a full copy and as a linked clone: each clone's
NVRAM is a file of its own with the source's content, named in the clone's definition,
and the source's NVRAM stays as it was. One guest (and its two clones) for the module.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import clone, clone_job, create
from kvmtui.backend.create_spec import (
    DirectBoot,
    DiskKind,
    DiskSpec,
    Firmware,
    NewGuest,
    VolumeRef,
)
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import destroy_and_undefine, domain_type
from tests.harness.image import GuestImage
from tests.hosts import started_host
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

IMAGE = "image.qcow2"
JOB_S = 120.0
OVMF_DIR = "/usr/share/OVMF/"


@dataclass(frozen=True)
class UefiGuest:
    dom: libvirt.virDomain
    nvram: Path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _saved(dom: libvirt.virDomain) -> Domain:
    return Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


@pytest.fixture(scope="module")
def guest(
    daemon_uri: str, host: Host, guest_image: GuestImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UefiGuest]:
    """The UEFI guest made by the create job and started once (its NVRAM is made then),
    then shut off; it and every guest named like it (its clones) go at the end."""
    conn = libvirt.open(daemon_uri)
    name = f"{TEST_GUEST_PREFIX}uefi-{uuid.uuid4().hex[:8]}"
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("uefi")) as (pool_name, target):
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(target / IMAGE), "64M"], check=True
        )
        conn.storagePoolLookupByName(pool_name).refresh(0)
        spec = NewGuest(
            name=name,
            memory_mib=256,
            disks=(DiskSpec(DiskKind.OVERLAY, VolumeRef(pool_name, IMAGE), pool=pool_name),),
            direct_boot=DirectBoot(
                str(guest_image.kernel), str(guest_image.initrd), guest_image.cmdline
            ),
            firmware=Firmware.UEFI,
            domain_type=domain_type(conn, guest_image),
            machine="q35",
        )
        try:
            registry = JobRegistry()
            view = create.start_create(registry, host, spec)
            ended = registry.wait(view.id, JOB_S)
            assert ended is not None and ended.state is JobState.DONE, ended
            dom = conn.lookupByName(name)
            live = Domain.from_xml(dom.XMLDesc(0))
            assert dom.isActive()
            assert live.loader_type == "pflash" and str(live.loader).startswith(OVMF_DIR)
            assert live.nvram and str(live.nvram_template).startswith(OVMF_DIR)
            nvram = Path(live.nvram)
            assert nvram.is_file() and nvram.stat().st_size > 0, "libvirt made no NVRAM"
            dom.destroy()
            yield UefiGuest(dom, nvram)
        finally:
            for other in conn.listAllDomains(0):
                if other.name().startswith(name):
                    destroy_and_undefine(other)
            conn.close()


def test_the_uefi_guest_started_with_ovmf_and_its_nvram_from_the_template(
    guest: UefiGuest,
) -> None:
    """libvirt 9.0 keeps ``firmware='efi'`` in the definition and fills in the loader and
    the NVRAM at each start, naming the NVRAM after the guest (what the clone reads)."""
    saved = _saved(guest.dom)
    assert saved.firmware == "efi"
    assert guest.nvram == Path(clone.nvram_path(saved, system=True) or "")
    template = Path(OVMF_DIR) / "OVMF_VARS_4M.fd"
    assert guest.nvram.stat().st_size == template.stat().st_size, "not made from the template"


@pytest.mark.parametrize("mode", [clone.Mode.FULL, clone.Mode.LINKED], ids=["full", "linked"])
def test_a_clone_gets_its_own_copy_of_the_nvram_and_the_source_keeps_its_own(
    host: Host, guest: UefiGuest, mode: clone.Mode
) -> None:
    before = _sha256(guest.nvram)
    name = f"{guest.dom.name()}-{mode.value}"
    registry = JobRegistry()
    view = clone_job.start_clone(
        registry, host, guest.dom.UUIDString(), clone.CloneRequest(name, mode)
    )
    ended = registry.wait(view.id, JOB_S)
    assert ended is not None and ended.state is JobState.DONE, ended
    dom = host.connection().lookupByName(name)
    made = _saved(dom)
    assert made.nvram and made.nvram != str(guest.nvram)
    copy = Path(made.nvram)
    assert copy.is_file()
    assert _sha256(copy) == before, "the clone's NVRAM is not the source's content"
    assert _sha256(guest.nvram) == before, "the source's NVRAM changed"
    dom.create()  # libvirt starts the clone on its copy, not on a new one or the source's
    try:
        assert Domain.from_xml(dom.XMLDesc(0)).nvram == str(copy)
    finally:
        dom.destroy()
    assert clone.nvram_path(_saved(guest.dom), system=True) == str(guest.nvram)
