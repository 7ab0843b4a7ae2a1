"""The cloud-init seed kvmtui writes: user-data for each combination of fields, the
refusals of bad fields (one sentence each), raw user-data checked as YAML with its line,
the NoCloud ISO read back with pycdlib, and the seed's disk in the domain model.

Real cloud-init's verdict on the same user-data: tests/unit/test_cloudinit_schema.py.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pycdlib
import pytest
import yaml

from kvmtui.backend import cloudinit, seed
from kvmtui.backend.cloudinit import CloudInit, CloudInitError, StaticAddress
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.seed import add_seed_disk, seed_disks
from tests.cloudinit_cases import COMBINATIONS, keys, spec_for

__all__ = ["keys"]  # a fixture


@pytest.mark.parametrize("combo", COMBINATIONS, ids=["-".join(map(str, c)) for c in COMBINATIONS])
def test_user_data_says_what_was_chosen(combo: tuple, keys: tuple[str, str]) -> None:
    login, hostname, packages, zone = combo
    text = cloudinit.user_data(spec_for(combo, keys))
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    assert data["hostname"] == "web1"
    assert data.get("fqdn") == (hostname if "." in hostname else None)
    (user,) = data["users"]
    assert user["name"] == "alice"
    assert user.get("ssh_authorized_keys") == (list(keys) if login != "password" else None)
    hashed = user.get("hashed_passwd")
    assert (hashed is not None) == (login != "key")
    assert user["lock_passwd"] is (login == "key") and data["ssh_pwauth"] is (login != "key")
    if hashed is not None:
        assert hashed.startswith("$6$") and "s3cret" not in text
    assert data.get("packages") == (list(packages) or None)
    assert ("runcmd" in data) == ("qemu-guest-agent" in packages)
    assert data.get("timezone") == zone
    assert data["write_files"] == [
        {"path": cloudinit.KEEP_INSTANCE_PATH, "content": "manual_cache_clean: true\n"}
    ]


def test_the_instance_is_kept_only_when_the_seed_is_detached(keys: tuple[str, str]) -> None:
    """A seed left attached keeps cloud-init's default (check the seed's instance-id on
    each boot): no write_files. Detached: cloud-init's base configuration gets
    manual_cache_clean, written as a literal block (as the summary shows it)."""
    spec = CloudInit.checked(hostname="h", user="bob", ssh_keys=[keys[0]])
    assert "write_files" not in cloudinit.user_data(spec)
    kept = CloudInit.checked(hostname="h", user="bob", ssh_keys=[keys[0]], keep_instance=True)
    assert cloudinit.user_data(kept).endswith(
        "write_files:\n- path: /etc/cloud/cloud.cfg.d/99-kvmtui.cfg\n"
        "  content: |\n    manual_cache_clean: true\n"
    )


def test_default_packages_preselect_the_agent(keys: tuple[str, str]) -> None:
    spec = CloudInit.checked(hostname="h", user="bob", ssh_keys=[keys[0]])
    assert spec.packages == ("qemu-guest-agent",)


def test_meta_data_and_network_config(keys: tuple[str, str]) -> None:
    net = StaticAddress.checked("10.9.0.2/24", "10.9.0.1", ["10.9.0.1"], "52:54:00:AA:BB:CC")
    spec = CloudInit.checked(hostname="db.example.org", user="bob", ssh_keys=[keys[0]], network=net)
    files = cloudinit.seed_files(spec)
    meta = yaml.safe_load(files.meta_data)
    assert meta == {"instance-id": spec.instance_id, "local-hostname": "db"}
    assert spec.instance_id.startswith("iid-")
    network = yaml.safe_load(files.network_config or "")
    assert network == {
        "version": 2,
        "ethernets": {
            "nic0": {
                "match": {"macaddress": "52:54:00:aa:bb:cc"},
                "dhcp4": False,
                "addresses": ["10.9.0.2/24"],
                "routes": [{"to": "default", "via": "10.9.0.1"}],
                "nameservers": {"addresses": ["10.9.0.1"]},
            }
        },
    }
    assert cloudinit.seed_files(
        CloudInit.checked(hostname="h", user="u", ssh_keys=[keys[0]])
    ).named().keys() == {"user-data", "meta-data"}


def test_password_is_hashed_with_a_fresh_salt() -> None:
    first, second = cloudinit.hash_password("pw"), cloudinit.hash_password("pw")
    assert first.startswith("$6$") and second.startswith("$6$") and first != second
    salt = first.split("$")[2]
    again = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input="pw\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert again == first


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("hostname", "", "Type a host name"),
        ("hostname", "-web", "is not a host name"),
        ("hostname", "web_1", "is not a host name"),
        ("hostname", "a" * 64, "is not a host name"),
        ("hostname", "10.0.0.1", "looks like an address"),
        ("user", "Alice", "is not a user name"),
        ("user", "1abc", "is not a user name"),
        ("user", "root", "system account"),
        ("ssh_keys", ["ssh-foo AAAA"], "is not an SSH public key type"),
        ("ssh_keys", ["ssh-ed25519"], "has no key data"),
        (
            "ssh_keys",
            ["ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ=="],
            "damaged or of another type",
        ),
        ("ssh_keys", ["-----BEGIN OPENSSH PRIVATE KEY----- abc"], "private key"),
        ("ssh_keys", [], "SSH key or a password"),
        ("packages", ["Bad Name"], "is not a package name"),
        ("timezone", "Mars/Olympus", "is not a time zone"),
        ("password", "two\nlines", "line break"),
    ],
)
def test_bad_fields_are_refused_with_a_sentence(
    field: str, value: object, sentence: str, keys: tuple[str, str]
) -> None:
    fields: dict[str, object] = {"hostname": "web1", "user": "alice", "ssh_keys": [keys[0]]}
    fields[field] = value
    with pytest.raises(CloudInitError) as refused:
        CloudInit.checked(**fields)  # type: ignore[arg-type]
    message = str(refused.value)
    assert sentence in message and message.endswith((".", "?)")) and "\n" not in message


def test_key_refusal_names_the_key_and_duplicates_are_dropped(keys: tuple[str, str]) -> None:
    with pytest.raises(CloudInitError, match=r"^SSH key 2: "):
        cloudinit.check_ssh_keys([keys[0], "ssh-rsa ###"])
    assert cloudinit.check_ssh_keys([keys[0], "  " + keys[0] + " ", "", keys[1]]) == keys


@pytest.mark.parametrize(
    ("address", "gateway", "sentence"),
    [
        ("10.0.0.300/24", None, "is not an address with its prefix"),
        ("10.0.0.3", None, "Add the prefix length"),
        ("10.0.0.3/24", "10.0.1.1", "is outside 10.0.0.0/24"),
    ],
)
def test_bad_static_address_is_refused(address: str, gateway: str | None, sentence: str) -> None:
    with pytest.raises(CloudInitError, match=sentence):
        StaticAddress.checked(address, gateway)


def test_local_public_keys_offers_only_real_keys(tmp_path: Path, keys: tuple[str, str]) -> None:
    (tmp_path / "id_ed25519.pub").write_text(keys[0] + "\n")
    (tmp_path / "broken.pub").write_text("not a key\n")
    (tmp_path / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert cloudinit.local_public_keys(tmp_path) == ((tmp_path / "id_ed25519.pub", keys[0]),)
    assert cloudinit.local_public_keys(tmp_path / "missing") == ()


def test_raw_user_data_error_names_the_line() -> None:
    text = "#cloud-config\nusers:\n  - name: a\n   bad: [\n"
    with pytest.raises(
        CloudInitError, match=r"^The user-data is not valid YAML: line \d+, column \d+: "
    ):
        cloudinit.raw_seed_files(text, "h")
    with pytest.raises(CloudInitError, match="Line 1 must be '#cloud-config'"):
        cloudinit.check_user_data("users: []\n")
    with pytest.raises(CloudInitError, match="must be a YAML mapping"):
        cloudinit.check_user_data("#cloud-config\n- a\n- b\n")
    files = cloudinit.raw_seed_files("#cloud-config\npackages: [htop]", "vm1.lan")
    assert files.user_data == "#cloud-config\npackages: [htop]\n"
    assert yaml.safe_load(files.meta_data)["local-hostname"] == "vm1"


def test_seed_iso_reads_back_with_label_and_files(keys: tuple[str, str]) -> None:
    net = StaticAddress.checked("10.9.0.2/24")
    files = cloudinit.seed_files(
        CloudInit.checked(hostname="web1", user="alice", ssh_keys=[keys[0]], network=net)
    )
    data = seed.build_iso(files)
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "cidata"
        names = {
            child.rock_ridge.name().decode()
            for child in iso.list_children(rr_path="/")
            if child.rock_ridge is not None and child.is_file()
        }
        assert names == {"user-data", "meta-data", "network-config"}
        for name, text in files.named().items():
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            assert out.getvalue().decode() == text
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/{name}")
            assert out.getvalue().decode() == text
    finally:
        iso.close()


GUEST = """<domain type='kvm'><name>g</name><devices>
<disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/b.qcow2'/><target dev='vdc' bus='virtio'/></disk>
</devices></domain>"""


def test_seed_disk_on_virtio_takes_a_free_name() -> None:
    domain = Domain.from_xml(GUEST)
    disk = add_seed_disk(domain, "images", "g-cidata.iso")
    assert (disk.target, disk.bus, disk.device, disk.readonly) == ("vdb", "virtio", "disk", True)
    assert (disk.type, disk.format) == ("volume", "raw")
    assert disk.source is not None and disk.source.text == "images/g-cidata.iso"
    assert seed_disks(Domain.from_xml(domain.to_xml()), "g-cidata.iso")[0].target == "vdb"


def test_seed_cdrom_on_scsi_brings_a_virtio_scsi_controller() -> None:
    domain = Domain.from_xml(GUEST)
    disk = add_seed_disk(domain, "images", "g-cidata.iso", bus="scsi")
    assert (disk.target, disk.bus, disk.device, disk.readonly) == ("sda", "scsi", "cdrom", True)
    controllers = [d.element.attrib for d in domain.devices if d.tag == "controller"]
    assert controllers == [{"type": "scsi", "index": "0", "model": "virtio-scsi"}]
    add_seed_disk(domain, "images", "other.iso", bus="scsi")  # no second controller
    assert sum(d.tag == "controller" for d in domain.devices) == 1


def test_seed_is_never_put_on_sata_or_an_old_scsi_controller() -> None:
    domain = Domain.from_xml(GUEST)
    before = domain.to_xml()
    with pytest.raises(ValueError, match="not on 'sata'"):
        add_seed_disk(domain, "images", "s.iso", bus="sata")
    assert domain.to_xml() == before
    domain.add_device("<controller type='scsi' index='0' model='lsilogic'/>")
    with_controller = domain.to_xml()
    with pytest.raises(ValueError, match="lsilogic"):
        add_seed_disk(domain, "images", "s.iso", bus="scsi")
    assert domain.to_xml() == with_controller
