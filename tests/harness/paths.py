"""Where the harness keeps its git-ignored state (under the repository root)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
GUEST_DIR = CACHE_DIR / "guest"
DISKS_DIR = CACHE_DIR / "disks"
