"""Uploads and downloads as jobs on the real daemon, locally and over loopback TCP: progress
rises, checksums match, cancel and refusals leave nothing behind.

Pools are kvmtui-test-pool-* directory pools in the test's own folder (tests/pools.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import transfer
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from tests.hosts import started_host
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

MIB = 1024**2
SIZE = 200 * MIB


def random_file(path: Path, size: int = SIZE) -> Path:
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def volume_names(uri: str, pool: str) -> list[str]:
    conn = libvirt.open(uri)
    try:
        found = conn.storagePoolLookupByName(pool)
        found.refresh(0)
        return sorted(v.name() for v in found.listAllVolumes(0))
    finally:
        conn.close()


class Recorder:
    """Every view a registry's listener hears, and a cancel once a job passes ``at``."""

    def __init__(self, registry: JobRegistry, cancel_at: float | None = None) -> None:
        self.registry = registry
        self.cancel_at = cancel_at
        self.views: list[JobView] = []
        registry.add_listener(self.heard)

    def heard(self, view: JobView) -> None:
        self.views.append(view)
        fraction = view.fraction
        if self.cancel_at is not None and fraction is not None and fraction >= self.cancel_at:
            self.registry.cancel(view.id)

    def progress(self, job_id: int) -> list[int]:
        moving = ("sending", "receiving")
        return [v.done for v in self.views if v.id == job_id and v.phase in moving]

    def phases(self, job_id: int) -> list[str]:
        return list(dict.fromkeys(v.phase for v in self.views if v.id == job_id))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_file(tmp_path_factory.mktemp("upload") / "big.raw")


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as connected:
        yield connected


@pytest.fixture
def pool(daemon_uri: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with dir_pool(daemon_uri, tmp_path) as made:
        yield made


def upload_and_check(host: Host, pool_name: str, target: Path, source: Path) -> float:
    """Upload ``source`` with progress watched; the pool's file matches it. Returns MiB/s."""
    registry = JobRegistry(min_interval=0.02)
    recorder = Recorder(registry)
    started = time.monotonic()
    view = transfer.start_upload(registry, host, pool_name, str(source), "up.raw")
    end = registry.wait(view.id, 240)
    seconds = time.monotonic() - started
    assert end is not None and end.state is JobState.DONE, end and end.outcome
    readings = recorder.progress(view.id)
    assert len(set(readings)) >= 5, f"too few progress readings: {readings}"
    assert readings == sorted(readings) and readings[-1] == source.stat().st_size
    assert recorder.phases(view.id)[:3] == ["starting", "checking", "creating the volume"]
    assert sha256(target / "up.raw") == sha256(source)
    return source.stat().st_size / MIB / seconds


def test_upload_200_mib_shows_progress_and_matches(
    host: Host, pool: tuple[str, Path], big_file: Path, tmp_path: Path
) -> None:
    name, target = pool
    rate = upload_and_check(host, name, target, big_file)
    print(f"\nupload 200 MiB over qemu:///system: {rate:.0f} MiB/s")

    # Back again: the download matches too, and lands under its final name only.
    registry = JobRegistry()
    back = tmp_path / "back" / "copy.raw"
    back.parent.mkdir()
    view = transfer.start_download(registry, host, name, "up.raw", str(back))
    end = registry.wait(view.id, 240)
    assert end is not None and end.state is JobState.DONE, end and end.outcome
    assert sha256(back) == sha256(big_file)
    assert os.listdir(back.parent) == ["copy.raw"]


def test_upload_over_loopback_tcp(tcp_uri: str, tmp_path: Path, big_file: Path) -> None:
    with started_host(tcp_uri) as remote, dir_pool(tcp_uri, tmp_path) as (name, target):
        rate = upload_and_check(remote, name, target, big_file)
    print(f"\nupload 200 MiB over {tcp_uri}: {rate:.0f} MiB/s")


def test_cancel_half_way_leaves_no_volume(
    daemon_uri: str, host: Host, pool: tuple[str, Path], big_file: Path
) -> None:
    name, target = pool
    registry = JobRegistry(min_interval=0.0)
    recorder = Recorder(registry, cancel_at=0.5)
    view = transfer.start_upload(registry, host, name, str(big_file), "half.raw")
    end = registry.wait(view.id, 240)
    assert end is not None and end.state is JobState.CANCELLED, end and end.outcome
    sent = max(recorder.progress(view.id))
    assert SIZE / 2 <= sent < SIZE, f"cancelled after {sent} bytes"
    assert "Removed the partial volume 'half.raw'" in (end.outcome or "")
    assert volume_names(daemon_uri, name) == []
    assert list(target.iterdir()) == []


def test_qcow2_upload_keeps_format_and_virtual_size(
    host: Host, pool: tuple[str, Path], tmp_path: Path
) -> None:
    name, target = pool
    image = tmp_path / "small.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(image), "2G"], check=True, timeout=60
    )
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xcd 0 4M", str(image)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    registry = JobRegistry()
    view = transfer.start_upload(registry, host, name, str(image))
    end = registry.wait(view.id, 120)
    assert end is not None and end.state is JobState.DONE, end and end.outcome
    conn = host.connection()
    vol = conn.storagePoolLookupByName(name).storageVolLookupByName("small.qcow2")
    assert "<format type='qcow2'/>" in vol.XMLDesc(0)
    assert vol.info()[1] == 2 * 1024**3
    compared = subprocess.run(
        ["qemu-img", "compare", str(image), str(target / "small.qcow2")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size_mib: int) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)],
                   check=True, timeout=30)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_not_enough_space_refused_before_a_byte_is_sent(
    daemon_uri: str, host: Host, tmp_path: Path
) -> None:
    source = random_file(tmp_path / "64m.raw", 64 * MIB)
    with tiny_tmpfs(tmp_path / "small", 16) as small, dir_pool(daemon_uri, small) as (name, dir_):
        conn = host.connection()
        available = conn.storagePoolLookupByName(name).info()[3]
        assert 0 < available <= 16 * MIB, f"the tmpfs pool reports {available} bytes free"
        used_before = shutil.disk_usage(small).used
        registry = JobRegistry(min_interval=0.0)
        recorder = Recorder(registry)
        view = transfer.start_upload(registry, host, name, str(source), "big.raw")
        end = registry.wait(view.id, 60)
        assert end is not None and end.state is JobState.FAILED
        assert end.outcome is not None and "needs 64 MiB" in end.outcome
        assert "available" in end.outcome
        assert "sending" not in recorder.phases(view.id)
        assert "creating the volume" not in recorder.phases(view.id)
        assert end.done == 0
        assert volume_names(daemon_uri, name) == []
        assert list(dir_.iterdir()) == []
        assert shutil.disk_usage(small).used == used_before


def test_taken_name_and_read_only_refused(
    daemon_uri: str, host: Host, pool: tuple[str, Path], tmp_path: Path
) -> None:
    name, target = pool
    source = random_file(tmp_path / "one.raw", MIB)
    registry = JobRegistry()
    first = registry.wait(transfer.start_upload(registry, host, name, str(source)).id, 60)
    assert first is not None and first.state is JobState.DONE
    again = registry.wait(transfer.start_upload(registry, host, name, str(source)).id, 60)
    assert again is not None and again.state is JobState.FAILED
    assert "already has a volume named 'one.raw'" in (again.outcome or "")
    assert sha256(target / "one.raw") == sha256(source), "the first upload is untouched"

    with started_host(daemon_uri, readonly=True) as readonly:
        up = registry.wait(transfer.start_upload(registry, readonly, name, str(source), "x").id, 60)
        down = registry.wait(
            transfer.start_download(registry, readonly, name, "one.raw", str(tmp_path)).id, 60
        )
    for end in (up, down):
        assert end is not None and end.state is JobState.FAILED
        assert "the connection is read-only" in (end.outcome or "")
    assert volume_names(daemon_uri, name) == ["one.raw"]
    assert not (tmp_path / "one.raw.part").exists()


def test_download_cancel_leaves_no_partial_file(
    host: Host, pool: tuple[str, Path], big_file: Path, tmp_path: Path
) -> None:
    name, target = pool
    shutil.copyfile(big_file, target / "vol.raw")
    host.connection().storagePoolLookupByName(name).refresh(0)
    into = tmp_path / "downloads"
    into.mkdir()
    registry = JobRegistry(min_interval=0.0)
    recorder = Recorder(registry, cancel_at=0.5)
    view = transfer.start_download(registry, host, name, "vol.raw", str(into))
    end = registry.wait(view.id, 240)
    assert end is not None and end.state is JobState.CANCELLED, end and end.outcome
    assert SIZE / 2 <= max(recorder.progress(view.id)) < SIZE
    assert "Removed the partial file" in (end.outcome or "")
    assert list(into.iterdir()) == []
