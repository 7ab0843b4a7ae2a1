"""qcow2 or raw from the header, on real files made with qemu-img; other formats and
files that cannot be uploaded are refused with a sentence."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kvmtui.backend import imagefile
from kvmtui.backend.imagefile import ImageFileError

MIB = 1024**2


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


def test_qcow2_virtual_size_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "disk.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "3G")
    found = imagefile.probe(path)
    assert found.format == "qcow2"
    assert found.virtual_bytes == 3 * 1024**3
    assert found.file_bytes == path.stat().st_size < MIB


def test_qcow2_version_2_too(tmp_path: Path) -> None:
    path = tmp_path / "old.img"  # the name says nothing: the header does
    qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", str(path), "100M")
    found = imagefile.probe(path)
    assert (found.format, found.virtual_bytes) == ("qcow2", 100 * MIB)


def test_raw_is_its_file_size(tmp_path: Path) -> None:
    path = tmp_path / "disk.qcow2"  # a misleading name: still raw
    qemu_img("create", "-q", "-f", "raw", str(path), "10M")
    found = imagefile.probe(path)
    assert (found.format, found.file_bytes, found.virtual_bytes) == ("raw", 10 * MIB, 10 * MIB)


def test_converted_raw_to_qcow2_keeps_the_virtual_size(tmp_path: Path) -> None:
    raw = tmp_path / "a.raw"
    raw.write_bytes(b"\xab" * (3 * MIB))
    qcow2 = tmp_path / "a.qcow2"
    qemu_img("convert", "-O", "qcow2", str(raw), str(qcow2))
    assert imagefile.probe(qcow2).virtual_bytes == 3 * MIB
    assert imagefile.probe(raw).format == "raw"


def test_overlay_refused_naming_its_backing_file(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(base), "1G")
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(top))
    with pytest.raises(ImageFileError, match=f"overlay on '{base}'.*qemu-img convert"):
        imagefile.probe(top)


@pytest.mark.parametrize(("fmt", "name"), [("vmdk", "VMDK"), ("vdi", "VDI"), ("vhdx", "VHDX")])
def test_other_formats_refused_with_the_conversion(tmp_path: Path, fmt: str, name: str) -> None:
    path = tmp_path / f"disk.{fmt}"
    qemu_img("create", "-q", "-f", fmt, str(path), "64M")
    with pytest.raises(ImageFileError, match=f"is a {name} image.*qemu-img convert -O qcow2"):
        imagefile.probe(path)


def test_missing_empty_and_folder_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"Cannot read .*No such file"):
        imagefile.probe(tmp_path / "nothing.qcow2")
    empty = tmp_path / "empty.raw"
    empty.touch()
    with pytest.raises(ImageFileError, match="is empty"):
        imagefile.probe(empty)
    with pytest.raises(ImageFileError, match="not a regular file"):
        imagefile.probe(tmp_path)
