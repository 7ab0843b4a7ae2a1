"""What ``cloud-init status`` (run through guest-exec) says about the first boot, parsed as
qemu-ga hands it back (``guest-exec-status``, output base64-encoded); and the mark the
wizard puts into a new guest's definition, read back through the domain model."""

from __future__ import annotations

import base64

import pytest

from kvmtui.backend.agent_info import parse_exec_status
from kvmtui.backend.create_spec import NewGuest, SeedSpec, VolumeRef, domain_xml
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.notes import (
    SEED_DETACH_NAMESPACE,
    has_seed_detach_mark,
    mark_seed_detach,
)
from kvmtui.backend.model import GuestRemoved, GuestsLoaded
from kvmtui.backend.seed_watch import STATUS_ARGV, FirstBoot, change_host, first_boot, status_word


def status(out: str, code: int = 0, *, exited: bool = True) -> FirstBoot:
    answer: dict[str, object] = {"exited": exited}
    if exited:
        answer |= {"exitcode": code, "out-data": base64.b64encode(out.encode()).decode()}
    return first_boot(parse_exec_status(STATUS_ARGV, 7, answer, 0.1, 30.0))


@pytest.mark.parametrize(
    ("out", "code", "expected"),
    [
        ("status: done\n", 0, FirstBoot.ENDED),
        ("\nstatus: error\n", 1, FirstBoot.ENDED),  # finished, with errors: it ran
        ("status: done\n", 2, FirstBoot.ENDED),  # 23.x: recoverable errors
        ("status: degraded done\n", 0, FirstBoot.ENDED),
        ("status: disabled\n", 0, FirstBoot.ENDED),  # cloud-init will not run at all
        ("status: running\n", 0, FirstBoot.RUNNING),
        ("status: not started\n", 0, FirstBoot.RUNNING),
        ("Status: Running\n", 0, FirstBoot.RUNNING),  # case does not matter
        ("", 1, FirstBoot.UNKNOWN),  # nothing said
        ("usage: cloud-init [-h]\n", 2, FirstBoot.UNKNOWN),  # a version without "status"
        ("status: something new\n", 0, FirstBoot.UNKNOWN),
    ],
)
def test_the_status_word_decides(out: str, code: int, expected: FirstBoot) -> None:
    assert status(out, code) is expected


def test_a_status_still_running_at_the_time_limit_is_asked_again() -> None:
    assert status("", exited=False) is FirstBoot.RUNNING


def test_the_last_status_line_counts() -> None:
    long = "status: running\ntime: ...\ndetail:\nstatus: done\n"
    assert status_word(long) == "done"
    assert status_word("boot_status_code: enabled-by-generator\n") is None


def test_the_wizards_choice_marks_the_definition() -> None:
    seed = VolumeRef("vms", "web-1-cidata.iso")
    chosen = SeedSpec(seed, detach_after_first_boot=True)
    marked = Domain.from_xml(domain_xml(NewGuest("web-1", seed=chosen)))
    plain = Domain.from_xml(domain_xml(NewGuest("web-1", seed=SeedSpec(seed))))
    assert has_seed_detach_mark(marked) and not has_seed_detach_mark(plain)
    assert SEED_DETACH_NAMESPACE in marked.to_xml()
    assert not has_seed_detach_mark(Domain.from_xml(domain_xml(NewGuest("web-1"))))


def test_marking_twice_keeps_one_mark_beside_other_tools_metadata() -> None:
    domain = Domain.from_xml(
        "<domain type='kvm'><name>a</name><metadata><x:y xmlns:x='urn:other'/></metadata>"
        "</domain>"
    )
    mark_seed_detach(domain)
    mark_seed_detach(domain)
    xml = domain.to_xml()
    assert xml.count(SEED_DETACH_NAMESPACE) == 1 and "urn:other" in xml
    assert has_seed_detach_mark(Domain.from_xml(xml))


def test_each_change_names_its_host() -> None:
    assert change_host(GuestsLoaded("h1", ())) == "h1"
    assert change_host(GuestRemoved("h2", "u")) == "h2"
