"""The raw XML editor's backend against the real daemon: every refusal leaves the saved
definition as it was (XMLDesc equal before and after), a valid edit is defined, and a
read-only connection is refused before libvirt is called."""

from __future__ import annotations

import re

import libvirt
import pytest

from kvmtui.backend import xmledit
from kvmtui.backend.errors import ReadOnlyError
from tests.harness.guests import GuestFactory
from tests.hosts import started_host

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

SAVED = libvirt.VIR_DOMAIN_XML_INACTIVE


def _line(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _refused(daemon_uri: str, dom: libvirt.virDomain, edited: str) -> xmledit.EditRefused:
    """Define ``edited`` through the backend; it must be refused and change nothing."""
    before = dom.XMLDesc(SAVED)
    with started_host(daemon_uri) as host, pytest.raises(xmledit.EditRefused) as refused:
        xmledit.define(host, dom.UUIDString(), edited)
    assert dom.XMLDesc(SAVED) == before
    return refused.value


def test_malformed_xml_is_refused_with_the_parsers_line(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    edited = xml.replace("</devices>", "<devices>")
    refused = _refused(daemon_uri, dom, edited)
    assert str(refused).startswith("The XML is malformed at line ")
    assert "Opening and ending tag mismatch" in str(refused)
    assert refused.line == len(edited.splitlines())  # where the parser stopped: </domain>


def test_an_unknown_element_in_devices_is_refused_with_libvirts_schema_message(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    edited = xml.replace("</devices>", "  <frobnicator/>\n  </devices>")
    refused = _refused(daemon_uri, dom, edited)
    assert "failed to validate against schema" in str(refused)
    assert "Extra element devices" in str(refused)
    assert refused.line == _line(edited, "<devices>")  # libvirt names <devices>
    assert f"(line {refused.line})" in str(refused)


def test_an_invalid_value_is_refused_with_libvirts_message(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    edited = re.sub(r"<memory unit='KiB'>\d+</memory>", "<memory unit='KiB'>abc</memory>", xml)
    assert edited != xml
    refused = _refused(daemon_uri, dom, edited)
    assert "doesn't allow value 'abc'" in str(refused)
    assert refused.line == _line(edited, ">abc</memory>")


def test_a_changed_name_or_uuid_is_refused_before_libvirt(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    renamed = xml.replace(f"<name>{dom.name()}</name>", "<name>kvmtui-test-renamed</name>")
    assert "renaming is an action of its own" in str(_refused(daemon_uri, dom, renamed))
    other = xml.replace(dom.UUIDString(), "00000000-0000-0000-0000-000000000001")
    assert "a guest keeps its UUID" in str(_refused(daemon_uri, dom, other))


def test_a_valid_edit_is_defined_and_prepare_changes_nothing(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    edited = re.sub(
        r"<memory unit='KiB'>\d+</memory>", "<memory unit='KiB'>200704</memory>", xml
    ).replace("</uuid>", "</uuid>\n  <description>edited in the XML editor</description>")
    edited = re.sub(r"<currentMemory unit='KiB'>\d+</currentMemory>",
                    "<currentMemory unit='KiB'>200704</currentMemory>", edited)
    with started_host(daemon_uri) as host:
        prepared = xmledit.prepare(host, dom.UUIDString(), xml, edited)
        assert dom.XMLDesc(SAVED) == xml  # the diff is shown; nothing is defined yet
        assert any(line.startswith("+  <description>") for line in prepared.diff)
        assert "-  <memory unit='KiB'>262144</memory>" in prepared.diff
        assert not prepared.changed_elsewhere
        assert xmledit.define(host, dom.UUIDString(), edited) == dom.name()
    saved = dom.XMLDesc(SAVED)
    assert "<description>edited in the XML editor</description>" in saved
    assert "<memory unit='KiB'>200704</memory>" in saved


def test_read_only_reads_the_definition_and_refuses_to_save(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    xml = dom.XMLDesc(SAVED)
    edited = xml.replace("</uuid>", "</uuid>\n  <description>x</description>")
    with started_host(daemon_uri, readonly=True) as host:
        definition = xmledit.read_definition(host, dom.UUIDString())
        assert definition.readonly and definition.xml == xml
        with pytest.raises(ReadOnlyError):
            xmledit.prepare(host, dom.UUIDString(), xml, edited)
        with pytest.raises(ReadOnlyError):
            xmledit.define(host, dom.UUIDString(), edited)
    assert dom.XMLDesc(SAVED) == xml
