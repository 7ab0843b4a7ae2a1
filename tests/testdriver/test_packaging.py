"""The wheel installs as ``kvmtui`` only and runs from a fresh venv outside the checkout.

Builds the wheel with pip (``pip wheel --no-deps``), installs it with its dependencies
into a new virtual environment in a temporary folder, and runs the console script from
there: nothing of the checkout is on the path. libvirt-python comes from pip's wheel
cache after its first build, so a run takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The whole build and install, libvirt-python's first build from source included.
INSTALL_TIMEOUT_S = 600


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."], REPO)
    (built,) = out.glob("kvmtui-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(venv)], venv)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], venv)
    return venv / "bin"


@pytest.mark.timeout(INSTALL_TIMEOUT_S)
def test_the_wheel_holds_kvmtui_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/", 1)[0] for name in archive.namelist()}
    version = wheel.name.split("-")[1]
    assert top == {"kvmtui", f"kvmtui-{version}.dist-info"}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for module in ("kvmtui/backend/host.py", "kvmtui/tui/app.py", "kvmtui/screens/guests.py"):
        assert module in names
    assert "kvmtui/tui/app.tcss" in names, "the styles travel with the code"


@pytest.mark.timeout(INSTALL_TIMEOUT_S)
def test_the_installed_script_runs_outside_the_checkout(
    installed: Path, wheel: Path, tmp_path: Path
) -> None:
    version = wheel.name.split("-")[1]
    assert run([str(installed / "kvmtui"), "--version"], tmp_path).stdout.strip() == (
        f"kvmtui {version}"
    )

    csv = run([str(installed / "kvmtui"), "--batch", "-n", "1", "-c", "test:///default"], tmp_path)
    header, *rows = csv.stdout.splitlines()
    assert header.startswith("timestamp,host,guest,uuid,state,cpu_pct,")
    assert len(rows) == 1 and ",test:default,test," in rows[0] and ",running," in rows[0]

    where = run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.util as u, kvmtui.tui.app as app; print(app.__file__); "
            "print([n for n in ('backend', 'tui', 'screens') if u.find_spec(n)])",
        ],
        tmp_path,
    ).stdout.splitlines()
    assert where[0].startswith(str(installed.parent)), "imported from the venv, not the checkout"
    assert where[1] == "[]", "no top-level backend, tui or screens"
