"""Real cloud-init (the image's own, 22.4) accepts the user-data kvmtui writes, for every
combination of the wizard's fields: ``cloud-init schema --config-file`` run with chroot
in the cloud image's root (tests/harness/cloudimage.py, built once). The same root's
libcrypt checks the password hash, so the hash is proven by another implementation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from kvmtui.backend import cloudinit
from tests.cloudinit_cases import COMBINATIONS, keys, spec_for
from tests.harness.cloudimage import CloudImage

__all__ = ["keys"]  # the fixture, shared with the unit tests


def schema_check(root: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``cloud-init schema --config-file`` on ``text``, inside ``root``."""
    name = f"kvmtui-schema-{uuid.uuid4().hex[:8]}.yaml"
    (root / "tmp" / name).write_text(text)
    try:
        return subprocess.run(
            ["chroot", str(root), "cloud-init", "schema", "--config-file", f"/tmp/{name}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        (root / "tmp" / name).unlink()


@pytest.fixture(scope="module")
def root(cloud_image: CloudImage) -> Path:
    if shutil.which("chroot") is None:
        pytest.fail("chroot is missing (coreutils)")
    return cloud_image.root


def test_cloud_init_accepts_every_combination(root: Path, keys: tuple[str, str]) -> None:
    texts = [cloudinit.user_data(spec_for(combo, keys)) for combo in COMBINATIONS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda text: schema_check(root, text), texts))
    failed = [
        f"{combo}: rc {r.returncode}: {r.stderr.strip() or r.stdout.strip()}"
        for combo, r in zip(COMBINATIONS, results, strict=True)
        if r.returncode != 0 or "Valid cloud-config" not in r.stdout
    ]
    assert not failed, "\n".join(failed)


#: Every property name in cloud-init's own schema (its modules' keys, a user's keys...).
SCHEMA_NAMES = """
import json
from cloudinit.config.schema import get_schema

names = set()
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                names.update(value)
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
walk(get_schema())
print(json.dumps(sorted(names)))
"""


def test_every_key_written_is_one_cloud_init_knows(root: Path, keys: tuple[str, str]) -> None:
    """cloud-init 22.4's check passes unknown top-level keys silently, so a misspelt key
    would pass above; each key kvmtui writes (top level and the user's) is in its schema."""
    result = subprocess.run(
        ["chroot", str(root), "python3", "-c", SCHEMA_NAMES],
        capture_output=True,
        text=True,
        check=True,
    )
    known = set(json.loads(result.stdout))
    assert "hostname" in known and "ssh_authorized_keys" in known
    written: set[str] = set()
    for combo in COMBINATIONS:
        data = yaml.safe_load(cloudinit.user_data(spec_for(combo, keys)))
        written |= set(data) | {key for user in data["users"] for key in user}
    assert not written - known, f"keys cloud-init does not know: {sorted(written - known)}"


def test_the_schema_check_does_refuse(root: Path) -> None:
    """The check above can fail: a wrong type is reported (rc 1, with the key)."""
    result = schema_check(root, "#cloud-config\nhostname: h\nusers: 5\n")
    assert result.returncode == 1 and "users" in result.stderr


def test_password_hash_checks_with_the_guests_libcrypt(root: Path) -> None:
    hashed = cloudinit.hash_password("correct horse")
    verify = (
        "import crypt, sys, warnings; warnings.simplefilter('ignore'); "
        "h = sys.argv[1]; print(crypt.crypt('correct horse', h) == h, "
        "crypt.crypt('wrong', h) == h)"
    )
    result = subprocess.run(
        ["chroot", str(root), "python3", "-c", verify, hashed],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "False"]
