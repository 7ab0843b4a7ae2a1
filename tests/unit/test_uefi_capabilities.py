"""How the wizard and the create pre-flight decide that the host offers UEFI: from
libvirt's domain capabilities, the firmware ``efi`` (a descriptor under
/usr/share/qemu/firmware) or a loader path under ``<os><loader>``. The samples are the
``<os>`` part of ``virsh domcapabilities`` on libvirt 9.0 with and without the package
ovmf."""

from __future__ import annotations

import pytest

from kvmtui.backend.create import uefi_in_capabilities

WITH_OVMF = """<domainCapabilities><os supported='yes'>
  <enum name='firmware'><value>efi</value></enum>
  <loader supported='yes'>
    <value>/usr/share/OVMF/OVMF_CODE_4M.fd</value>
    <enum name='type'><value>rom</value><value>pflash</value></enum>
  </loader>
</os></domainCapabilities>"""

LOADER_ONLY = """<domainCapabilities><os supported='yes'>
  <loader supported='yes'><value>/usr/share/OVMF/OVMF_CODE.fd</value></loader>
</os></domainCapabilities>"""

WITHOUT_OVMF = """<domainCapabilities><os supported='yes'>
  <enum name='firmware'/>
  <loader supported='yes'>
    <enum name='type'><value>rom</value><value>pflash</value></enum>
  </loader>
</os></domainCapabilities>"""


@pytest.mark.parametrize("caps", [WITH_OVMF, LOADER_ONLY], ids=["descriptor", "loader-path"])
def test_uefi_is_offered_with_a_firmware_descriptor_or_a_loader(caps: str) -> None:
    assert uefi_in_capabilities(caps) == (True, None)


def test_capabilities_without_a_loader_refuse_uefi_naming_the_package() -> None:
    offered, reason = uefi_in_capabilities(WITHOUT_OVMF)
    assert not offered
    assert reason is not None and "no UEFI firmware for QEMU (OVMF)" in reason
    assert "install the package ovmf" in reason


def test_unreadable_capabilities_refuse_uefi_with_a_sentence() -> None:
    offered, reason = uefi_in_capabilities("<domainCapabilities>")
    assert not offered and reason is not None and "could not be read" in reason
