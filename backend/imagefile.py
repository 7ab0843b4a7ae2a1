"""What a local disk image is, read from its header: qcow2 or raw, and how big.

qcow2 files start with ``QFI\\xfb``; the big-endian header then gives the version,
the backing file (offset and length at 8 and 16) and the virtual size (u64 at 24).
Any other file is raw, unless its header names another image format kvmtui does not
upload as it is (VMDK, VDI, VHDX, QED): uploading those as raw would give a guest a
disk of garbage, so they are refused with the conversion to run.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from kvmtui.backend.errors import KvmtuiError

QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_HEADER = struct.Struct(">4sIQIIQ")  # magic, version, backing offset/size, bits, size
_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"KDMV", "VMDK"),
    (0, b"# Disk DescriptorFile", "VMDK descriptor"),
    (64, b"\x7f\x10\xda\xbe", "VDI"),
    (0, b"vhdxfile", "VHDX"),
    (0, b"QFI\x00", "QED"),
)


class ImageFileError(KvmtuiError):
    """The local file cannot be uploaded as it is; nothing was sent."""


@dataclass(frozen=True, slots=True)
class ImageFile:
    path: Path
    format: str  # "qcow2" or "raw"
    file_bytes: int  # what travels, and what the volume holds on disk
    virtual_bytes: int  # the disk the guest sees: qcow2's virtual size, raw's file size


def probe(path: str | os.PathLike[str]) -> ImageFile:
    """Read the file's header; a sentence for anything kvmtui will not upload."""
    file = Path(path).expanduser()
    if file.exists() and not file.is_file():
        raise ImageFileError(f"{file} is not a regular file; kvmtui uploads files.")
    try:
        with file.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(512)
    except OSError as exc:
        raise ImageFileError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
    if size == 0:
        raise ImageFileError(f"{file} is empty; there is nothing to upload.")
    if head.startswith(QCOW2_MAGIC):
        return _qcow2(file, head, size)
    for offset, magic, name in _OTHER_FORMATS:
        if head[offset : offset + len(magic)] == magic:
            raise ImageFileError(
                f"{file} is a {name} image; kvmtui uploads qcow2 and raw. Convert it first: "
                f"qemu-img convert -O qcow2 {file} {file.stem}.qcow2"
            )
    return ImageFile(file, "raw", size, size)


def _qcow2(file: Path, head: bytes, size: int) -> ImageFile:
    if len(head) < _QCOW2_HEADER.size:
        raise ImageFileError(f"{file} starts like qcow2 but its header is cut short.")
    _magic, version, backing_offset, backing_size, _bits, virtual = _QCOW2_HEADER.unpack_from(head)
    if version not in (2, 3):
        raise ImageFileError(f"{file} is qcow2 version {version}; kvmtui knows versions 2 and 3.")
    if backing_offset and backing_size:
        with file.open("rb") as handle:
            handle.seek(backing_offset)
            backing = handle.read(min(backing_size, 1023)).decode("utf-8", "replace")
        raise ImageFileError(
            f"{file} is a qcow2 overlay on '{backing}'; the volume would need that file on the "
            f"host. Flatten it first: qemu-img convert -O qcow2 {file} {file.stem}-flat.qcow2"
        )
    if virtual <= 0:
        raise ImageFileError(f"{file} is qcow2 with a virtual size of 0 bytes.")
    return ImageFile(file, "qcow2", size, virtual)
