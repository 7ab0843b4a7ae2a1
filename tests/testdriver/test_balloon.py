"""The balloon's statistics period through the backend on libvirt's test:/// driver
(tests/data/balloon_node.xml): the period read from the XML, the form's parsing, and
every refusal, each leaving the guest's live and saved XML as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from conftest import node_uri
from kvmtui.backend import balloon
from kvmtui.backend.balloon import MAX_PERIOD_S, Balloon, parse_period, set_stats_period
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.layout import read_layout
from kvmtui.backend.errors import InvalidStateError, KvmtuiError, ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope
from tests.hosts import started_host

NODE = Path(__file__).parents[1] / "data" / "balloon_node.xml"
REPORTING = "6695eb01-f6a4-8304-79aa-97f2502e1b01"  # running, virtio balloon, period 2
SILENT = "6695eb01-f6a4-8304-79aa-97f2502e1b02"  # running, virtio balloon, no period
STOPPED = "6695eb01-f6a4-8304-79aa-97f2502e1b03"  # shut off, virtio balloon, no period
NO_BALLOON = "6695eb01-f6a4-8304-79aa-97f2502e1b04"  # running, <memballoon model='none'/>
TRANSIENT = "6695eb01-f6a4-8304-79aa-97f2502e1b05"  # running, transient, virtio balloon


@pytest.fixture
def host() -> Iterator[Host]:
    with started_host(node_uri(NODE)) as host:
        yield host


@pytest.fixture
def ro_host() -> Iterator[Host]:
    with started_host(node_uri(NODE), readonly=True) as host:
        yield host


def periods(host: Host, uuid: str) -> tuple[int | None, int | None]:
    """(live, saved) periods as libvirt's XML says them; a shut-off guest's live is None."""
    dom = host.connection().lookupByUUIDString(uuid)
    saved = balloon.balloon_of(Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    if not dom.isActive():
        return None, saved.period_s
    return balloon.balloon_of(Domain.from_xml(dom.XMLDesc(0))).period_s, saved.period_s


def test_the_layout_says_how_often_the_balloon_reports(host: Host) -> None:
    assert read_layout(host, REPORTING).balloon == Balloon("virtio", 2)
    assert read_layout(host, REPORTING).balloon.text == "every 2 s (virtio balloon)"
    assert read_layout(host, SILENT).balloon == Balloon("virtio", None)
    assert read_layout(host, SILENT).balloon.text.startswith("not reported")
    none = read_layout(host, NO_BALLOON).balloon
    assert not none.present and none.text == "no balloon device: memory in use unknown"
    assert not Balloon(None, None).present


@pytest.mark.parametrize(
    ("text", "seconds"), [("5", 5), (" 0 ", 0), ("60", MAX_PERIOD_S), ("007", 7)]
)
def test_parse_period_takes_whole_seconds(text: str, seconds: int) -> None:
    assert parse_period(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Type a number of seconds"),
        ("-1", "not a whole number of seconds"),
        ("1.5", "not a whole number of seconds"),
        ("ten", "not a whole number of seconds"),
        ("61", "more than 60 s: a report older than 120 s counts as unknown"),
    ],
)
def test_parse_period_refuses_with_a_sentence(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_period(text)


def test_live_changes_the_running_guest_only(host: Host) -> None:
    set_stats_period(host, SILENT, 7, Scope.LIVE)
    assert periods(host, SILENT) == (7, None)


def test_both_changes_the_running_guest_and_its_saved_configuration(host: Host) -> None:
    set_stats_period(host, SILENT, 4, Scope.BOTH)
    assert periods(host, SILENT) == (4, 4)


def test_zero_stops_the_reports(host: Host) -> None:
    set_stats_period(host, REPORTING, 0, Scope.BOTH)
    assert all(not p for p in periods(host, REPORTING))


def test_a_shut_off_guest_changes_in_its_saved_configuration(host: Host) -> None:
    set_stats_period(host, STOPPED, 10, Scope.CONFIG)
    assert periods(host, STOPPED) == (None, 10)


def test_a_shut_off_guest_refuses_a_live_change_and_changes_nothing(host: Host) -> None:
    for scope in (Scope.LIVE, Scope.BOTH):
        with pytest.raises(InvalidStateError, match="it is not running, so only its saved"):
            set_stats_period(host, STOPPED, 10, scope)
    assert periods(host, STOPPED) == (None, None)


def test_no_balloon_device_is_refused_before_libvirt(host: Host) -> None:
    with pytest.raises(InvalidStateError, match="its running guest has no balloon device"):
        set_stats_period(host, NO_BALLOON, 5, Scope.BOTH)
    assert periods(host, NO_BALLOON) == (None, None)


def test_a_transient_guest_has_no_saved_configuration(host: Host) -> None:
    """libvirt's own refusal comes back as a sentence; the live period is left alone."""
    with pytest.raises(KvmtuiError, match="set the memory statistics period of guest 'scratch'"):
        set_stats_period(host, TRANSIENT, 5, Scope.CONFIG)
    assert periods(host, TRANSIENT)[0] is None


@pytest.mark.parametrize("seconds", [-1, MAX_PERIOD_S + 1])
def test_an_out_of_range_period_is_refused_before_libvirt(host: Host, seconds: int) -> None:
    with pytest.raises(KvmtuiError, match="Nothing was changed"):
        set_stats_period(host, SILENT, seconds, Scope.BOTH)
    assert periods(host, SILENT) == (None, None)


def test_read_only_is_refused_in_the_backend(ro_host: Host) -> None:
    with pytest.raises(ReadOnlyError, match="read-only"):
        set_stats_period(ro_host, SILENT, 5, Scope.LIVE)
    assert periods(ro_host, SILENT) == (None, None)
