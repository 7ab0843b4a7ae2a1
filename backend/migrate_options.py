"""What a migration is asked to do: its options, each with a one-line explanation, and
the libvirt flags and parameters they make."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import libvirt


class CopyStorage(StrEnum):
    NONE = "none"  # the disks are on storage both hosts share
    ALL = "all"  # copy every writable disk whole
    INCREMENTAL = "incremental"  # copy only what differs from a shared backing image


@dataclass(frozen=True, slots=True)
class MigrationOptions:
    live: bool = True
    persistent: bool = True
    undefine_source: bool = True
    copy_storage: CopyStorage = CopyStorage.NONE
    #: The destination pool the copies are created in (copy storage only); None: the
    #: destination pool over the disk's own directory.
    dest_pool: str | None = None
    auto_converge: bool = False
    postcopy: bool = False
    compressed: bool = False
    bandwidth_mib_s: int = 0  # 0: no limit
    max_downtime_ms: int = 0  # 0: QEMU's default (300 ms)
    peer_to_peer: bool = False
    tunnelled: bool = False
    unsafe: bool = False


#: One line per option, shown beside it in the dialog.
EXPLAIN: dict[str, str] = {
    "live": "Keep the guest running while its memory is copied (off: offline, the "
    "definition only, for a shut-off guest).",
    "persistent": "Define the guest on the destination, so it stays there after it stops.",
    "undefine_source": "Remove the definition from the source once the guest has moved.",
    "copy_storage": "Copy the disks too (none: they are on shared storage; all: whole; "
    "incremental: only what differs from a shared backing image).",
    "dest_pool": "The destination pool the disk copies are created in, same size and format.",
    "auto_converge": "Slow the guest's vCPUs down when its memory changes faster than it "
    "is sent.",
    "postcopy": "Allow switching to post-copy: the guest runs on the destination at once "
    "and fetches the rest (a broken link then loses it).",
    "compressed": "Compress memory pages on the way (costs CPU on both hosts).",
    "bandwidth_mib_s": "Maximum bandwidth in MiB/s (0: no limit); changeable while it runs.",
    "max_downtime_ms": "Longest pause allowed at the switch-over, ms (0: QEMU's default); "
    "changeable while it runs.",
    "peer_to_peer": "The source host's libvirtd connects to the destination itself (needs a "
    "URI the source host can reach).",
    "tunnelled": "Send the guest's data through libvirtd's connection (peer-to-peer only).",
    "unsafe": "Skip libvirt's shared-storage safety check (storage shared in a way libvirt "
    "cannot see, such as one directory both hosts mount).",
}


def flags_of(options: MigrationOptions) -> int:
    """The ``VIR_MIGRATE_*`` flags for OPTIONS."""
    chosen = {
        libvirt.VIR_MIGRATE_LIVE: options.live,
        libvirt.VIR_MIGRATE_OFFLINE: not options.live,
        libvirt.VIR_MIGRATE_PERSIST_DEST: options.persistent,
        libvirt.VIR_MIGRATE_UNDEFINE_SOURCE: options.undefine_source,
        libvirt.VIR_MIGRATE_NON_SHARED_DISK: options.copy_storage is CopyStorage.ALL,
        libvirt.VIR_MIGRATE_NON_SHARED_INC: options.copy_storage is CopyStorage.INCREMENTAL,
        libvirt.VIR_MIGRATE_AUTO_CONVERGE: options.auto_converge,
        libvirt.VIR_MIGRATE_POSTCOPY: options.postcopy,
        libvirt.VIR_MIGRATE_COMPRESSED: options.compressed,
        libvirt.VIR_MIGRATE_PEER2PEER: options.peer_to_peer or options.tunnelled,
        libvirt.VIR_MIGRATE_TUNNELLED: options.tunnelled,
        libvirt.VIR_MIGRATE_UNSAFE: options.unsafe,
    }
    flags = 0
    for flag, on in chosen.items():
        if on:
            flags |= flag
    return flags


def params_of(options: MigrationOptions) -> dict[str, object]:
    """The typed parameters for ``migrate3`` / ``migrateToURI3`` (disks are added later)."""
    params: dict[str, object] = {}
    if options.bandwidth_mib_s:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = options.bandwidth_mib_s
    return params
