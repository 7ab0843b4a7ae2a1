"""Storage backend on libvirt's test:/// driver (tests/data/storage-node.xml) and by itself:
sizes, names, thin figures, who uses a volume, refusals before libvirt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.backend import storage
from kvmtui.backend.errors import KvmtuiError, ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.storage import StorageValueError, VolumeUser

NODE = Path(__file__).parents[1] / "data" / "storage-node.xml"
GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1G", GIB),
        ("1GiB", GIB),
        ("1 gb", GIB),
        ("512M", 512 * 1024**2),
        ("1.5G", int(1.5 * GIB)),
        ("2T", 2 * 1024**4),
        ("1073741824", GIB),
    ],
)
def test_sizes_parsed(text: str, size: int) -> None:
    assert storage.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "not a size"), ("ten", "not a size"), ("-1G", "not a size"), ("10", "less than 1 MiB"),
     ("1X", "not a size"), ("0G", "less than 1 MiB")],
)  # fmt: skip
def test_bad_sizes_refused(text: str, words: str) -> None:
    with pytest.raises(StorageValueError, match=words):
        storage.parse_size(text)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", ".hidden", "sp ace", "x" * 256])
def test_bad_names_refused(name: str) -> None:
    with pytest.raises(StorageValueError, match="not a volume name"):
        storage.validate_name(name)


def test_volume_xml_sparse_by_default() -> None:
    xml = storage.volume_xml("d.qcow2", GIB, "qcow2")
    assert "<allocation unit='bytes'>0</allocation>" in xml and "type='qcow2'" in xml
    full = storage.volume_xml("d.raw", GIB, "raw", sparse=False)
    assert f"<allocation unit='bytes'>{GIB}</allocation>" in full
    with pytest.raises(StorageValueError, match="not a format"):
        storage.volume_xml("d.vmdk", GIB, "vmdk")


@pytest.fixture
def host() -> Iterator[Host]:
    connected = Host(f"test://{NODE}")
    connected.start()
    assert connected.wait_connected(10)
    yield connected
    connected.stop()


def test_pools_volumes_and_users(host: Host) -> None:
    pools = {p.name: p for p in storage.list_pools(host)}
    assert set(pools) == {"images", "bulk"}
    images = pools["images"]
    assert images.type == "dir" and images.active and images.path == "/var/lib/libvirt/images"
    assert images.capacity_bytes == 100 * GIB
    # Promised: 40 + 40 + 60 + 20 GiB + 700 MiB on a 100 GiB pool.
    assert images.promised_bytes == 160 * GIB + 700 * 1024**2
    assert images.promised_ratio == pytest.approx(1.6068, abs=1e-4)
    app1 = images.volume("app-1.qcow2")
    assert app1 is not None and app1.format == "qcow2"
    assert app1.users == (VolumeUser("app-1", True),)
    assert app1.allocated_ratio == pytest.approx(6.2 / 40, abs=1e-3)
    scratch = images.volume("scratch.raw")
    assert scratch is not None and scratch.users == () and scratch.allocation_bytes == 0
    # A disk given as <source pool= volume=> counts too.
    archive = pools["bulk"].volume("archive.raw")
    assert archive is not None and archive.used_by == "archive"


def test_create_delete_on_the_test_driver(host: Host) -> None:
    """The test driver cannot resize: that error arrives as a sentence (the daemon test grows)."""
    made = storage.create_volume(host, "images", "new.qcow2", "2G")
    assert made.capacity_bytes == 2 * GIB and made.format == "qcow2"
    with pytest.raises(StorageValueError, match="already has a volume"):
        storage.create_volume(host, "images", "new.qcow2", "1G")
    with pytest.raises(KvmtuiError, match=r"Could not resize volume 'new\.qcow2'.*not support"):
        storage.resize_volume(host, "images", "new.qcow2", "3G")
    with pytest.raises(StorageValueError, match="only grows"):
        storage.resize_volume(host, "images", "new.qcow2", "1G")
    after = storage.delete_volume(host, "images", "new.qcow2")
    assert after.volume("new.qcow2") is None


def test_delete_and_grow_refused_while_used(host: Host) -> None:
    with pytest.raises(StorageValueError, match="guest build uses it"):
        storage.delete_volume(host, "images", "build.qcow2")
    with pytest.raises(StorageValueError, match="running guest app-1 uses it"):
        storage.resize_volume(host, "images", "app-1.qcow2", "80G")
    assert storage.read_pool(host, "images").volume("build.qcow2") is not None


def test_stop_and_start_pool(host: Host) -> None:
    stopped = storage.stop_pool(host, "bulk")
    assert not stopped.active and stopped.volumes == ()
    with pytest.raises(StorageValueError, match="not running"):
        storage.create_volume(host, "bulk", "x.raw", "1G", "raw")
    assert storage.start_pool(host, "bulk").active


def test_libvirt_errors_become_sentences(host: Host) -> None:
    with pytest.raises(
        KvmtuiError, match="Could not refresh storage pool 'nope' on test:storage-node"
    ):
        storage.refresh_pool(host, "nope")


def test_read_only_refused_before_libvirt() -> None:
    host = Host(f"test://{NODE}", readonly=True)  # never connected: libvirt cannot be asked
    for call in (
        lambda: storage.create_volume(host, "images", "x.qcow2", "1G"),
        lambda: storage.resize_volume(host, "images", "app-1.qcow2", "80G"),
        lambda: storage.delete_volume(host, "images", "scratch.raw"),
        lambda: storage.refresh_pool(host, "images"),
        lambda: storage.start_pool(host, "images"),
        lambda: storage.stop_pool(host, "images"),
    ):
        with pytest.raises(ReadOnlyError, match="read-only"):
            call()
