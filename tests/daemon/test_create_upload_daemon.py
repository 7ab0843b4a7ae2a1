"""The create job with a local image file (the wizard's "cloud image from a local file")
over qemu+tcp://127.0.0.1/system, so the file really travels over a libvirt stream (run
under the daemon lock). Its first step uploads the file into the pool (its bytes shown
in the phase), the overlay is made on the uploaded volume and the guest starts; a full
copy of it shows its bytes in the phase too; when
libvirt refuses the definition the uploaded volume is removed with the overlay; a
missing file or a folder is refused before anything is made. One guest for the module.
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import create
from kvmtui.backend.create_spec import DirectBoot, DiskKind, DiskSpec, NewGuest
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import destroy_and_undefine, domain_type
from tests.harness.image import GuestImage
from tests.hosts import started_host
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

JOB_S = 60.0


@pytest.fixture(scope="module")
def tcp_host(tcp_uri: str) -> Iterator[Host]:
    with started_host(tcp_uri) as connected:
        yield connected


@pytest.fixture(scope="module")
def pool(daemon_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("upload")) as made:
        yield made


@pytest.fixture(scope="module")
def local_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small qcow2 file on this machine (outside every pool) with 1 MiB written."""
    path = tmp_path_factory.mktemp("local") / "cloud.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    subprocess.run(
        ["qemu-io", "-c", "write -P 0x5a 0 1M", str(path)], check=True, capture_output=True
    )
    return path


def _spec(
    name: str,
    upload: create.LocalUpload,
    image: GuestImage,
    machine: str = "pc",
    kind: DiskKind = DiskKind.OVERLAY,
) -> NewGuest:
    return NewGuest(
        name=name,
        memory_mib=256,
        disks=(DiskSpec(kind, upload.ref, pool=upload.pool),),
        start=kind is DiskKind.OVERLAY,
        direct_boot=DirectBoot(str(image.kernel), str(image.initrd), image.cmdline),
        domain_type=domain_type(),
        machine=machine,
    )


def _run(host: Host, spec: NewGuest, upload: create.LocalUpload) -> tuple[JobView, list[str]]:
    registry = JobRegistry(min_interval=0.0)
    phases: list[str] = []
    registry.add_listener(lambda view: phases.append(view.phase))
    view = create.start_create(registry, host, spec, upload=upload)
    ended = registry.wait(view.id, JOB_S)
    assert ended is not None, "the create job did not end"
    return ended, phases


def _volumes(host: Host, pool_name: str) -> list[str]:
    pool = host.connection().storagePoolLookupByName(pool_name)
    pool.refresh(0)
    return sorted(pool.listVolumes())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_local_file_is_uploaded_first_and_the_guest_starts_on_an_overlay_of_it(
    tcp_host: Host, pool: tuple[str, Path], local_image: Path, guest_image: GuestImage
) -> None:
    pool_name, target = pool
    name = f"{TEST_GUEST_PREFIX}upload-{uuid.uuid4().hex[:8]}"
    upload = create.LocalUpload(str(local_image), pool_name, f"{name}-image.qcow2")
    ended, phases = _run(tcp_host, _spec(name, upload, guest_image), upload)
    try:
        assert ended.state is JobState.DONE, ended.outcome
        label = f"uploading cloud.qcow2 into pool '{pool_name}'"
        assert any(p.startswith(f"{label}: ") and " of " in p for p in phases), phases
        assert phases.index(label) < phases.index("defining the guest")
        assert _sha256(target / upload.name) == _sha256(local_image), "not the file's bytes"
        dom = tcp_host.connection().lookupByName(name)
        assert dom.isActive()
        overlay = tcp_host.connection().storageVolLookupByPath(str(target / f"{name}.qcow2"))
        assert f"<path>{target / upload.name}</path>" in overlay.XMLDesc(0)  # its backing
    finally:
        for dom in tcp_host.connection().listAllDomains(0):
            if dom.name() == name:
                destroy_and_undefine(dom)


def test_a_full_copy_of_the_uploaded_image_shows_its_bytes_in_the_phase(
    tcp_host: Host, pool: tuple[str, Path], local_image: Path, guest_image: GuestImage
) -> None:
    """createXMLFrom has no progress of its own: the copy's allocation is shown against
    the image's, ending with the whole figure (the guest is defined, not started)."""
    pool_name, target = pool
    name = f"{TEST_GUEST_PREFIX}upload-{uuid.uuid4().hex[:8]}"
    upload = create.LocalUpload(str(local_image), pool_name, f"{name}-image.qcow2")
    ended, phases = _run(tcp_host, _spec(name, upload, guest_image, kind=DiskKind.COPY), upload)
    try:
        assert ended.state is JobState.DONE, ended.outcome
        label = f"creating volume '{name}.qcow2' (copy): "
        figures = [p.removeprefix(label).split(" of ") for p in phases if p.startswith(label)]
        assert figures and figures[-1][0] == figures[-1][1], phases
        assert (target / f"{name}.qcow2").is_file()
    finally:
        for dom in tcp_host.connection().listAllDomains(0):
            if dom.name() == name:
                destroy_and_undefine(dom)


def test_the_uploaded_file_is_removed_when_the_definition_is_refused(
    tcp_host: Host, pool: tuple[str, Path], local_image: Path, guest_image: GuestImage
) -> None:
    pool_name, _target = pool
    before = _volumes(tcp_host, pool_name)
    name = f"{TEST_GUEST_PREFIX}upload-{uuid.uuid4().hex[:8]}"
    upload = create.LocalUpload(str(local_image), pool_name, f"{name}-image.qcow2")
    spec = _spec(name, upload, guest_image, machine="kvmtui-no-such-machine")
    ended, phases = _run(tcp_host, spec, upload)
    assert ended.state is JobState.FAILED, ended.outcome
    assert "defining the guest" in phases
    assert f"the uploaded image '{upload.name}'" in (ended.outcome or ""), ended.outcome
    assert _volumes(tcp_host, pool_name) == before
    with pytest.raises(libvirt.libvirtError):
        tcp_host.connection().lookupByName(name)


@pytest.mark.parametrize(
    ("path", "sentence"),
    [("missing.qcow2", "Cannot read"), (".", "is not a regular file")],
    ids=["missing", "folder"],
)
def test_a_missing_file_or_a_folder_is_refused_before_anything_is_made(
    tcp_host: Host,
    pool: tuple[str, Path],
    local_image: Path,
    guest_image: GuestImage,
    path: str,
    sentence: str,
) -> None:
    pool_name, _target = pool
    before = _volumes(tcp_host, pool_name)
    name = f"{TEST_GUEST_PREFIX}upload-{uuid.uuid4().hex[:8]}"
    local = str((local_image.parent / path).resolve())
    upload = create.LocalUpload(local, pool_name, f"{name}-image.qcow2")
    with pytest.raises(create.CreateRefused, match=sentence):
        create.preflight(tcp_host, _spec(name, upload, guest_image), upload=upload)
    ended, phases = _run(tcp_host, _spec(name, upload, guest_image), upload)
    assert ended.state is JobState.FAILED and sentence in (ended.outcome or "")
    assert not any(p.startswith("uploading") for p in phases)
    assert _volumes(tcp_host, pool_name) == before
