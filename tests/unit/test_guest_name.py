"""The one check of a new guest's name (backend/guest_name.py), used by creation and by
clones: libvirt's rules, kvmtui's printable names, and the host's taken names."""

from __future__ import annotations

import pytest

from kvmtui.backend import create
from kvmtui.backend.create_spec import NewGuest, SpecError, check_spec
from kvmtui.backend.guest_name import GuestNameError, check_guest_name


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("", "Type a name for the new guest."),
        (" web", "begin or end with a blank"),
        ("a/b", "contains '/', which libvirt refuses"),
        ("a\nb", "control characters"),
        ("tab\there", "control characters"),
        ("x" * 201, "at most 200"),
        ("web", "kvm1 already has a guest named 'web'; choose another name."),
    ],
)
def test_bad_guest_names_are_refused_with_a_sentence(name: str, sentence: str) -> None:
    with pytest.raises(GuestNameError, match=sentence):
        check_guest_name(name, frozenset({"web"}), "kvm1")


def test_names_libvirt_takes_are_taken() -> None:
    for name in ("web-1", "db.primary", "x", "Ünïcode guest", "a:b+c", "web-clone"):
        assert check_guest_name(name, {"web"}) == name


def test_creation_and_the_wizard_say_the_same_sentence() -> None:
    """The spec check (create) and the wizard's check as typed give the check's sentence."""
    with pytest.raises(SpecError, match="contains '/'"):
        check_spec(NewGuest(name="a/b"))
    facts = create.HostFacts(
        host="kvm1", guest_names=frozenset({"web"}), pools=(), networks=(), cpus=1,
        memory_kib=1, uefi=False, uefi_reason=None, kvm=False,
    )  # fmt: skip
    assert create.name_problem("web", facts) == (
        "kvm1 already has a guest named 'web'; choose another name."
    )
    assert create.name_problem("web2", facts) is None
