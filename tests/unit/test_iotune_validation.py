"""blkdeviotune settings: parsing what the admin types and the rules checked before sending."""

from __future__ import annotations

import pytest

from kvmtui.backend import iotune
from kvmtui.backend.iotune import IoTune


def errors_of(texts: dict[str, str]) -> dict[str, str]:
    settings, found = iotune.parse_form(texts)
    assert (settings is None) == bool(found)
    return {e.field: e.message for e in found}


def test_every_libvirt_field_is_offered() -> None:
    names = set(iotune.FIELD_NAMES) | {iotune.GROUP_NAME}
    for way in ("total", "read", "write"):
        for kind in ("bytes", "iops"):
            base = f"{way}_{kind}_sec"
            assert {base, f"{base}_max", f"{base}_max_length"} <= names
    assert {"size_iops_sec", "group_name"} <= names
    assert len(names) == 20


def test_blank_means_no_limit_and_suffixes_are_binary() -> None:
    settings, found = iotune.parse_form(
        {"read_bytes_sec": "10M", "write_bytes_sec": "512 KiB", "total_iops_sec": "1,000"}
    )
    assert not found and settings is not None
    assert settings.get("read_bytes_sec") == 10 * 1024**2
    assert settings.get("write_bytes_sec") == 512 * 1024
    assert settings.get("total_iops_sec") == 1000
    assert settings.get("total_bytes_sec") == 0


@pytest.mark.parametrize(
    ("texts", "field", "message"),
    [
        ({"total_iops_sec": "-5"}, "total_iops_sec", "must not be negative"),
        ({"total_iops_sec": "lots"}, "total_iops_sec", "must be a whole number, not 'lots'"),
        ({"total_iops_sec": "1.5"}, "total_iops_sec", "must be a whole number"),
        ({"total_iops_sec": "10M"}, "total_iops_sec", "must be a whole number, not '10M'"),
        ({"read_bytes_sec": "ten"}, "read_bytes_sec", "a suffix K, M, G or T is allowed"),
        (
            {"total_iops_sec": "100", "read_iops_sec": "10"},
            "read_iops_sec",
            "cannot be combined with a total IOPS limit",
        ),
        (
            {"total_bytes_sec_max": "2M", "total_bytes_sec": "1M", "write_bytes_sec": "1"},
            "write_bytes_sec",
            "cannot be combined with a total bytes/s limit",
        ),
        (
            {"total_iops_sec": "100", "total_iops_sec_max": "50"},
            "total_iops_sec_max",
            "a burst must be at least its base (100 IOPS)",
        ),
        ({"read_iops_sec_max": "50"}, "read_iops_sec_max", "a burst needs the Read IOPS limit"),
        (
            {"total_iops_sec": "100", "total_iops_sec_max_length": "10"},
            "total_iops_sec_max_length",
            "a burst length needs a Total IOPS burst",
        ),
        (
            {"total_bytes_sec": "10000000000000000"},
            "total_bytes_sec",
            "is absurdly large: at most 1,000,000,000,000,000",
        ),
        (
            {"total_iops_sec": "10", "total_iops_sec_max": "20",
             "total_iops_sec_max_length": "1000000000000000"},
            "total_iops_sec_max_length",
            "is too long for this burst",
        ),
        ({"size_iops_sec": "4096"}, "size_iops_sec", "needs an IOPS limit"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_on_its_field(texts: dict[str, str], field: str, message: str) -> None:
    found = errors_of(texts)
    assert field in found, found
    assert message in found[field]


def test_every_fault_is_reported_not_just_the_first() -> None:
    found = errors_of({"total_iops_sec": "-1", "read_bytes_sec": "x", "write_iops_sec": "1.2"})
    assert set(found) == {"total_iops_sec", "read_bytes_sec", "write_iops_sec"}


def test_a_full_valid_setting_passes() -> None:
    settings = IoTune.of(
        read_bytes_sec=50 * 1024**2,
        read_bytes_sec_max=100 * 1024**2,
        read_bytes_sec_max_length=10,
        write_iops_sec=200,
        size_iops_sec=4096,
        group_name="tenant-a",
    )
    assert iotune.validate(settings) == []


def test_display_and_form_text() -> None:
    assert iotune.display("read_bytes_sec", 10 * 1024**2) == "10 MiB/s"
    assert iotune.display("read_bytes_sec", 1536) == "1.5 KiB/s"
    assert iotune.display("total_iops_sec", 0) == "-"
    assert iotune.display("total_iops_sec", 100) == "100 IOPS"
    assert iotune.form_text("read_bytes_sec", 50 * 1024**2) == "50M"
    assert iotune.form_text("read_bytes_sec", 1000) == "1000"
    assert iotune.form_text("total_iops_sec", 0) == ""
    for value in (1000, 50 * 1024**2, 3 * 1024**4):
        settings, _ = iotune.parse_form(
            {"read_bytes_sec": iotune.form_text("read_bytes_sec", value)}
        )
        assert settings is not None and settings.get("read_bytes_sec") == value


def test_qemus_automatic_group_reads_as_no_group() -> None:
    params = {
        "total_iops_sec": 100,
        "group_name": "/machine/peripheral/virtio-disk0/virtio-backend",
    }
    assert IoTune.from_params(params).group_name == ""
    assert IoTune.from_params({"group_name": "tenant-a"}).group_name == "tenant-a"


def test_changes_list_only_what_differs() -> None:
    old = IoTune.of(total_iops_sec=100, group_name="a")
    new = IoTune.of(total_iops_sec=200, group_name="a")
    assert iotune.changes(old, new) == (("total_iops_sec", 100, 200),)
