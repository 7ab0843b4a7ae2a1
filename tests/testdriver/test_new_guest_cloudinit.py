"""The new-guest wizard's Cloud-init page on libvirt's test:/// driver
(tests/data/storage-node.xml): each field is checked as typed with one sentence and
Forward waits; the admin's ~/.ssh/*.pub keys are offered (HOME is a temporary folder
holding tests/data/ssh-key.pub); a typed password is kept only hashed; the summary shows
the seed and its user-data; a source that is not a cloud image skips the page; the create
job's pre-flight refuses a seed name already taken or a seed pool that does not exist."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from kvmtui.backend import cloudinit, create
from kvmtui.backend.create_spec import (
    GIB,
    DiskKind,
    DiskSpec,
    NewGuest,
    SeedBus,
    SeedSpec,
    VolumeRef,
    domain_xml,
)
from kvmtui.screens.new_guest import STEPS, NewGuestScreen
from tests.hosts import started_host
from tests.pilot import STORAGE_NODE_URI, build_app, open_wizard, run_async, wizard_fill
from tests.testdriver.test_new_guest_screen import said, step_name

KEY = Path(__file__).parents[1] / "data" / "ssh-key.pub"


@pytest.fixture
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME with one public key in .ssh (and a private-looking file that is not offered)."""
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    shutil.copy(KEY, ssh / "id_ed25519.pub")
    (ssh / "broken.pub").write_text("not a key\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path


#: Typed in turn (each change kept), and the sentence each brings.
FORM_REFUSALS: list[tuple[dict[str, str], str]] = [
    ({"ci_user": "Bad User"}, "'Bad User' is not a user name"),
    ({"ci_user": "root"}, "'root' is a system account"),
    ({"ci_user": "admin", "ci_paste": "ssh-ed25519 AAAAnotakey x"},
     "SSH key 2: The ssh-ed25519 key's data is damaged"),
    ({"ci_paste": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "That is a private key"),
    ({"ci_paste": "", "ci_hostname": "-web"}, "'-web' is not a host name"),
    ({"ci_hostname": "web1", "ci_timezone": "Mars/Olympus"},
     "'Mars/Olympus' is not a time zone name"),
    ({"ci_timezone": "UTC", "ci_packages": "htop, Bad_Pkg"}, "'Bad_Pkg' is not a package name"),
    ({"ci_packages": "qemu-guest-agent htop", "ci_gateway": "10.0.0.1"},
     "A gateway needs a static address"),
    ({"ci_address": "10.0.0.5"}, "Add the prefix length"),
    ({"ci_address": "10.0.0.5/24", "ci_gateway": "10.9.0.1"}, "is outside 10.0.0.0/24"),
    ({"ci_gateway": "10.0.0.1"}, ""),
]  # fmt: skip
RAW_REFUSALS = [
    ("#cloud-config\nusers: [a\n", "The user-data is not valid YAML: line 3"),
    ("#cloud-config\n- a list\n", "must be a YAML mapping"),
    ("packages: [htop]\n", "Line 1 must be '#cloud-config'"),
    ("", "The user-data is empty"),
]


async def to_cloudinit(pilot: Pilot[None], **values: str) -> NewGuestScreen:
    """The wizard at its Cloud-init step, for the 20 GiB volume scratch.raw as the image
    (and ``values`` set on the earlier pages)."""
    wizard = await open_wizard(pilot)
    await wizard_fill(pilot, wizard, source_ref="images/scratch.raw", guest_name="web-1",
                      disk_size="20G", **values)  # fmt: skip
    for _step in range(5):  # source, OS, name, disk, network (none)
        await pilot.press("alt+f")
    assert step_name(wizard) == "cloudinit", wizard.problem_text
    return wizard


async def refused(pilot: Pilot[None], wizard: NewGuestScreen, sentence: str) -> None:
    """The page says ``sentence`` and Forward stays on it ("": no problem, not pressed)."""
    await said(pilot, wizard, sentence)
    if sentence:
        await pilot.press("alt+f")
        assert step_name(wizard) == "cloudinit"


@run_async
async def test_bad_fields_are_refused_with_a_sentence_and_forward_waits(ssh_home: Path) -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(100, 34)) as pilot:
        wizard = await to_cloudinit(pilot)
        assert wizard.query_one("#ci-hostname", Input).value == "web-1"  # the guest's name
        assert wizard.query_one("#ci-packages", Input).value == cloudinit.AGENT_PACKAGE
        offered = wizard.query_one("#ci-key-0", Checkbox)
        assert offered.value and "admin@kvmtui-test" in str(offered.label)
        assert len(wizard.query("#ci-keys Checkbox")) == 1  # broken.pub is not offered
        await refused(pilot, wizard, "'' is not a user name")
        for fields, sentence in FORM_REFUSALS:
            await wizard_fill(pilot, wizard, **fields)
            await refused(pilot, wizard, sentence)
        offered.value = False
        await refused(pilot, wizard, "Give the user an SSH key or a password")
        await wizard_fill(pilot, wizard, ci_mode="raw")
        for raw, sentence in RAW_REFUSALS:
            await wizard_fill(pilot, wizard, ci_raw=raw)
            await refused(pilot, wizard, sentence)
        await wizard_fill(pilot, wizard, ci_raw="#cloud-config\npackages: [htop]\n")
        await said(pilot, wizard, "")
        await pilot.press("alt+f")
        assert step_name(wizard) == "firmware"
        await pilot.press("alt+f")
        assert step_name(wizard) == "summary"
        assert wizard.spec is not None and wizard.spec.seed is not None
        assert wizard.make_seed is not None
        seed_text = str(wizard.query_one("#summary-seed", Static).render())
        assert "bulk/web-1-cidata.iso" in seed_text and "packages: [htop]" in seed_text


@run_async
async def test_a_password_is_kept_only_hashed_and_the_summary_shows_the_seed(
    ssh_home: Path,
) -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(100, 34)) as pilot:
        wizard = await to_cloudinit(
            pilot, net_kind="bridge", net_source="br0", net_mac="52:54:00:00:00:07"
        )
        wizard.query_one("#ci-key-0", Checkbox).value = False
        await wizard_fill(pilot, wizard, ci_user="admin", ci_password="s3cret pass",
                          ci_bus="scsi", ci_address="192.168.10.5/24")  # fmt: skip
        await said(pilot, wizard, "")
        await pilot.press("alt+f", "alt+f")
        assert step_name(wizard) == "summary", wizard.problem_text
        assert wizard.query_one("#ci-password", Input).value == ""
        assert wizard.password_hash is not None and wizard.password_hash.startswith("$6$")
        spec = wizard.spec
        assert spec is not None and spec.seed is not None
        assert spec.seed.volume == VolumeRef("bulk", "web-1-cidata.iso")
        assert spec.seed.bus is SeedBus.SCSI
        assert wizard.seed_files is not None
        assert wizard.password_hash in wizard.seed_files.user_data
        # The address goes to the NIC with the spec's MAC (cloud-init's networkd renderer
        # needs it to find the NIC).
        assert wizard.job_files is not None and wizard.job_files.network_config is not None
        assert "macaddress: '52:54:00:00:00:07'" in wizard.job_files.network_config
        shown = str(wizard.query_one("#summary-seed", Static).render())
        assert cloudinit.REDACTED in shown and wizard.password_hash not in shown
        assert "s3cret" not in shown and "192.168.10.5/24" in shown
        assert "on a SCSI CD-ROM" in shown
        xml = domain_xml(spec)  # what the summary shows, highlighted
        assert "web-1-cidata.iso" in xml and "virtio-scsi" in xml
        commands = str(wizard.query_one("#summary-commands", Static).render())
        assert "web-1-cidata.iso,device=cdrom,bus=scsi" in commands
        # Detached after the first boot (the default): the user-data keeps the instance.
        assert spec.seed.detach_after_first_boot
        assert cloudinit.KEEP_INSTANCE_PATH in wizard.job_files.user_data
        assert cloudinit.KEEP_INSTANCE_PATH in shown
        # Left attached: cloud-init keeps checking the seed's instance-id.
        await pilot.press("alt+b", "alt+b")
        wizard.query_one("#ci-detach", Checkbox).value = False
        await pilot.press("alt+f", "alt+f")
        assert step_name(wizard) == "summary", wizard.problem_text
        assert wizard.spec is not None and wizard.spec.seed is not None
        assert not wizard.spec.seed.detach_after_first_boot
        assert wizard.job_files is not None
        assert "write_files" not in wizard.job_files.user_data
        # Back on the page, Forward keeps the hash (the field stays empty).
        await pilot.press("alt+b", "alt+b")
        assert step_name(wizard) == "cloudinit"
        await said(pilot, wizard, "")
        await wizard_fill(pilot, wizard, ci_mode="none")
        await pilot.press("alt+f", "alt+f")
        assert step_name(wizard) == "summary"
        assert wizard.spec is not None and wizard.spec.seed is None
        assert wizard.make_seed is None
        shown = str(wizard.query_one("#summary-seed", Static).render())
        assert shown == "No cloud-init seed."


@run_async
async def test_a_source_other_than_a_cloud_image_skips_the_page(ssh_home: Path) -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await wizard_fill(pilot, wizard, source_kind="import", source_ref="images/scratch.raw",
                          guest_name="web-1")  # fmt: skip
        for _step in range(5):  # source, OS, name, disk, network
            await pilot.press("alt+f")
        assert step_name(wizard) == "firmware", wizard.problem_text
        assert "Cloud-init" not in str(wizard.query_one("#wizard-steps", Static).render())
        await pilot.press("alt+b")
        assert step_name(wizard) == "network"
        await pilot.press("alt+f", "alt+f")
        assert STEPS[wizard.step][0] == "summary"
        assert wizard.make_seed is None



@pytest.mark.parametrize(
    ("seed_ref", "new_seed", "sentence"),
    [
        (VolumeRef("bulk", "archive.raw"), True,
         "the cloud-init seed: Pool 'bulk' already has a volume named 'archive.raw'."),
        (VolumeRef("nopool", "web-9-cidata.iso"), True,
         "there is no storage pool 'nopool' for the cloud-init seed."),
        (VolumeRef("bulk", "web-9-cidata.iso"), False, "the seed bulk/web-9-cidata.iso does not"),
        (VolumeRef("bulk", "web-9-cidata.iso"), True, None),
    ],
    ids=["taken", "no-pool", "existing-seed-missing", "free"],
)
def test_preflight_checks_the_seed_the_job_will_upload(
    seed_ref: VolumeRef, new_seed: bool, sentence: str | None
) -> None:
    """The job uploads the seed (``new_seed``): its pool must exist and its name be free,
    refused before anything is made; a seed made elsewhere must exist."""
    spec = NewGuest(
        name="web-9",
        disks=(DiskSpec(DiskKind.OVERLAY, VolumeRef("images", "scratch.raw"), pool="bulk",
                        size_bytes=20 * GIB),),
        seed=SeedSpec(seed_ref),
    )  # fmt: skip
    with started_host(STORAGE_NODE_URI) as host:
        if sentence is None:
            assert create.preflight(host, spec, new_seed=new_seed).spec == spec
            return
        with pytest.raises(create.CreateRefused) as refused_with:
            create.preflight(host, spec, new_seed=new_seed)
    assert sentence in str(refused_with.value)
