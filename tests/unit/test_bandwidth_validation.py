"""Interface bandwidth settings: parsing and the rules checked before sending."""

from __future__ import annotations

import pytest

from kvmtui.backend import bandwidth
from kvmtui.backend.bandwidth import Bandwidth


def errors_of(texts: dict[str, str]) -> dict[str, str]:
    settings, found = bandwidth.parse_form(texts)
    assert (settings is None) == bool(found)
    return {e.field: e.message for e in found}


def test_plain_numbers_are_kib_and_suffixes_convert() -> None:
    settings, found = bandwidth.parse_form(
        {"inbound.average": "1000", "inbound.peak": "2M", "inbound.burst": "512K"}
    )
    assert not found and settings is not None
    assert settings.as_dict()["inbound.average"] == 1000
    assert settings.get("inbound.peak") == 2048
    assert settings.get("inbound.burst") == 512
    assert settings.get("outbound.average") == 0


@pytest.mark.parametrize(
    ("texts", "field", "message"),
    [
        ({"inbound.average": "-1"}, "inbound.average", "must not be negative"),
        ({"outbound.average": "fast"}, "outbound.average", "must be a whole number"),
        ({"outbound.average": "1.5"}, "outbound.average", "must be a whole number"),
        ({"inbound.peak": "100"}, "inbound.peak", "needs the In (to guest) average set"),
        ({"outbound.burst": "64"}, "outbound.burst", "needs the Out (from guest) average set"),
        (
            {"inbound.average": "1000", "inbound.peak": "500"},
            "inbound.peak",
            "a peak must be at least the average",
        ),
        ({"inbound.average": "5000000000"}, "inbound.average", "is absurdly large"),
        ({"inbound.average": "1500B"}, "inbound.average", "whole number of KiB"),
    ],
)
def test_bad_input_is_refused_on_its_field(texts: dict[str, str], field: str, message: str) -> None:
    found = errors_of(texts)
    assert field in found, found
    assert message in found[field]


def test_a_burst_may_be_below_the_average() -> None:
    """A burst is an amount (KiB), not a rate: only the peak is compared with the average."""
    assert bandwidth.validate(Bandwidth.of(outbound_average=10240, outbound_burst=64)) == []


def test_display() -> None:
    assert bandwidth.display("inbound.average", 10240) == "10 MiB/s"
    assert bandwidth.display("inbound.burst", 1024) == "1 MiB"
    assert bandwidth.display("outbound.peak", 0) == "-"
    assert Bandwidth.of(inbound_average=1000).summary() == "in (to guest) average 1000 KiB/s"
