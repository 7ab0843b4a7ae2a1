"""Storage on a real directory pool of the real daemon: thin volumes, growth, refusals.

The pool is named kvmtui-test-pool-* and lives in a temporary directory; it is
stopped and undefined after the test whatever happens.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

import libvirt
import pytest

from kvmtui.backend import storage
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.storage import StorageValueError
from tests.harness.guests import GuestFactory
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

GIB = 1024**3
MIB = 1024**2


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    connected = Host(daemon_uri)
    connected.start()
    assert connected.wait_connected(30)
    yield connected
    connected.stop()


@pytest.fixture
def pool_name(daemon_uri: str, tmp_path: Path) -> Iterator[str]:
    with dir_pool(daemon_uri, tmp_path) as (name, _target):
        yield name


def attach_disk(dom: libvirt.virDomain, path: str) -> None:
    """Add a second disk on PATH to the guest's persistent definition (through the model)."""
    domain = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    domain.add_device(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file={quoteattr(path)}/><target dev='vdb' bus='virtio'/></disk>"
    )
    dom.connect().defineXML(domain.to_xml())


def detach_disk(dom: libvirt.virDomain, path: str) -> None:
    domain = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    for disk in domain.disks:
        if disk.source_text == path:
            domain.remove_device(disk)
    dom.connect().defineXML(domain.to_xml())


@pytest.mark.skipif(shutil.which("qemu-io") is None, reason="needs qemu-io")
def test_thin_qcow2_volume_lifecycle(
    host: Host, pool_name: str, guest_factory: GuestFactory
) -> None:
    made = storage.create_volume(host, pool_name, "thin.qcow2", "1G", "qcow2")
    assert made.format == "qcow2" and made.capacity_bytes == GIB
    assert made.allocation_bytes < 16 * MIB, "a new sparse qcow2 should hold almost nothing"

    # Write 100 MiB into it: allocation rises, capacity does not.
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 100M", made.path],
        check=True,
        capture_output=True,
        timeout=120,
    )
    written = storage.refresh_pool(host, pool_name).volume("thin.qcow2")
    assert written is not None and written.capacity_bytes == GIB
    assert written.allocation_bytes >= 100 * MIB

    grown = storage.resize_volume(host, pool_name, "thin.qcow2", "2G")
    assert grown.capacity_bytes == 2 * GIB

    raw = storage.create_volume(host, pool_name, "data.raw", "512M", "raw")
    assert raw.format == "raw" and raw.allocation_bytes < MIB
    pool = storage.read_pool(host, pool_name)
    assert pool.promised_bytes == 2 * GIB + 512 * MIB
    assert pool.promised_ratio == pytest.approx(pool.promised_bytes / pool.capacity_bytes)

    # A defined (shut off) guest uses it: delete refused, the volume stays.
    dom = guest_factory(start=False)
    attach_disk(dom, grown.path)
    used = storage.read_pool(host, pool_name).volume("thin.qcow2")
    assert used is not None and used.used_by == dom.name()
    with pytest.raises(StorageValueError, match=f"guest {dom.name()} uses it"):
        storage.delete_volume(host, pool_name, "thin.qcow2")
    assert Path(grown.path).exists()

    detach_disk(dom, grown.path)
    after = storage.delete_volume(host, pool_name, "thin.qcow2")
    assert after.volume("thin.qcow2") is None and not Path(grown.path).exists()


@pytest.mark.parametrize(
    ("name", "size", "words"),
    [
        ("../escape.qcow2", "1G", "not a volume name"),
        ("with space", "1G", "not a volume name"),
        ("ok.qcow2", "10", "less than 1 MiB"),
        ("ok.qcow2", "big", "not a size"),
    ],
)
def test_bad_names_and_sizes_refused(
    host: Host, pool_name: str, name: str, size: str, words: str
) -> None:
    with pytest.raises(StorageValueError, match=words):
        storage.create_volume(host, pool_name, name, size)
    assert storage.read_pool(host, pool_name).volumes == ()


def test_libvirt_error_shown_as_a_sentence(host: Host, pool_name: str) -> None:
    """A fully allocated volume larger than the pool's free space is refused up front."""
    with pytest.raises(StorageValueError, match="fully allocated"):
        storage.create_volume(host, pool_name, "huge.raw", "1P", "raw", sparse=False)


def test_stop_and_start_the_pool(host: Host, pool_name: str) -> None:
    assert not storage.stop_pool(host, pool_name).active
    assert storage.start_pool(host, pool_name).active
