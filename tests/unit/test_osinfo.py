"""The OS list read from osinfo-db's XML: the system's files (make deps installs the
package osinfo-db) and a small database written here for inheritance."""

from __future__ import annotations

import time
from pathlib import Path

from kvmtui.backend import osinfo

GIB = 1024**3


def test_the_system_database_has_debian_with_its_resources_and_the_generic_two() -> None:
    started = time.perf_counter()
    database = osinfo.read_database()
    assert time.perf_counter() - started < 5.0  # about 0.13 s measured; see docs/create.md
    assert database.source == str(osinfo.DEFAULT_DIR)
    assert database.entries[0] is osinfo.GENERIC_LINUX
    assert database.entries[1].id == osinfo.UNKNOWN_ID
    debian = database.get("debian11")
    assert debian is not None and debian.name == "Debian 11"
    assert debian.minimum.ram_bytes == GIB and debian.minimum.storage_bytes == 10 * GIB
    assert debian.recommended.storage_bytes == 20 * GIB
    assert debian.virtio and debian.virtio_block is True  # inherited from older Debians
    assert not debian.needs_uefi


def test_windows_11_needs_uefi_and_has_no_inbox_virtio() -> None:
    win11 = osinfo.read_database().get("win11")
    assert win11 is not None
    assert win11.needs_uefi and win11.uefi and win11.machine == "q35"
    assert not win11.virtio
    assert win11.recommended.ram_bytes is not None and win11.minimum.ram_bytes is not None
    assert win11.recommended.ram_bytes >= win11.minimum.ram_bytes


def test_search_keeps_the_generic_entries_first_and_matches_every_word() -> None:
    found = osinfo.read_database().search("ubuntu 22.04")
    assert [e.name for e in found[:2]] == ["Generic Linux", "Unknown"]
    assert found[2].short_id == "ubuntu22.04"
    assert all("ubuntu" in e.name.lower() and "22.04" in e.name for e in found[2:])


def _os(directory: Path, vendor: str, name: str, body: str) -> None:
    folder = directory / "os" / vendor
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.xml").write_text(
        f"<libosinfo version='0.0.1'><os id='http://x/{name}'><short-id>{name}</short-id>"
        f"<name>{name}</name>{body}</os></libosinfo>"
    )


def test_inheritance_of_devices_and_resources_along_derives_from(tmp_path: Path) -> None:
    _os(
        tmp_path,
        "x",
        "base",
        "<family>linux</family><release-date>2020-01-01</release-date>"
        "<resources arch='all'><minimum><ram>536870912</ram><n-cpus>1</n-cpus></minimum>"
        "</resources><devices><device id='http://pcisig.com/pci/1af4/1001'/>"
        "<device id='http://qemu.org/chipset/x86/q35'/></devices>",
    )
    _os(
        tmp_path,
        "x",
        "child",
        "<family>linux</family><release-date>2021-01-01</release-date>"
        "<derives-from id='http://x/base'/><resources arch='all' inherit='true'/>"
        "<devices><device id='http://qemu.org/chipset/x86/q35' supported='false'/></devices>",
    )
    _os(tmp_path, "x", "broken", "<<not xml")
    database = osinfo.read_database(tmp_path)
    child = database.get("child")
    assert child is not None
    assert child.minimum.ram_bytes == 512 * 1024**2 and child.virtio_block is True
    assert child.q35 is False and child.machine == "pc"
    assert [e.short_id for e in database.entries[2:]] == ["child", "base"]  # newest first


def test_without_the_package_the_generic_two_remain_and_the_source_says_why(
    tmp_path: Path,
) -> None:
    database = osinfo.read_database(tmp_path / "none")
    assert [e.name for e in database.entries] == ["Generic Linux", "Unknown"]
    assert "install the package osinfo-db" in database.source
