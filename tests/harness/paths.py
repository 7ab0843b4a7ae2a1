"""Where the harness keeps its git-ignored state (under the repository root)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
GUEST_DIR = CACHE_DIR / "guest"
DISKS_DIR = CACHE_DIR / "disks"
#: The demo guests' disks, and the directory of the demo's storage pool.
DEMO_DISKS_DIR = CACHE_DIR / "demo-disks"
DEMO_PREFIX = "kvmtui-demo-"
#: The demo's directory pool over DEMO_DISKS_DIR: the demo guests' disks are its volumes.
DEMO_POOL = "kvmtui-demo"
#: The cloud-init test image (qcow2, boot files and its debootstrap root): cloudimage.py.
CLOUD_DIR = CACHE_DIR / "cloud"
