"""The raw XML editor's backend: read a guest's saved definition, check an edited text,
diff it against the definition libvirt has now, and define it with libvirt's schema
validation (``VIR_DOMAIN_DEFINE_VALIDATE``).

Nothing is sent to libvirt until the admin has confirmed the diff: :func:`prepare`
only reads, and :func:`define` is the one call that changes anything. libvirt has no
validate-only call, so ``defineXMLFlags(xml, VALIDATE)`` validates and defines in one
step: a refusal changes nothing, an accepted text is the new saved definition.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Domain, DomainXmlError
from kvmtui.backend.host import Host

SAVE = "save the definition of"


class EditRefused(errors.KvmtuiError):
    """The edited text cannot be saved; ``line`` (1-based) is where the reason lies, when
    the parser or libvirt names a place."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        host: str | None = None,
        guest: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, host=host, guest=guest, action=SAVE, code=code)
        self.line = line


@dataclass(frozen=True, slots=True)
class Definition:
    """A guest's saved definition as the editor opens it."""

    host: str
    uuid: str
    name: str
    xml: str
    readonly: bool  # a read-only connection: the editor is a viewer


@dataclass(frozen=True, slots=True)
class Prepared:
    """An edited text that passed kvmtui's own checks, with its diff against the saved
    definition as libvirt has it now (``current``)."""

    current: Definition
    xml: str
    diff: tuple[str, ...]
    changed_elsewhere: bool  # the saved definition changed since the editor opened


def _flags(host: Host) -> int:
    # SECURE keeps what XMLDesc leaves out otherwise (a VNC or SPICE password): saving a
    # text read without it would remove them. A read-only connection may not ask for it.
    inactive = libvirt.VIR_DOMAIN_XML_INACTIVE
    return inactive if host.readonly else inactive | libvirt.VIR_DOMAIN_XML_SECURE


def read_definition(host: Host, uuid: str) -> Definition:
    """The guest's saved definition (a transient guest's running one). Blocking.

    Raises :class:`errors.KvmtuiError`.
    """
    action = "read the definition of"
    dom = host.domain(uuid, action)
    cached = host.guest(uuid)
    try:
        name = dom.name()
        xml = dom.XMLDesc(_flags(host))
    except libvirt.libvirtError as exc:
        guest = cached.name if cached else uuid
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=guest) from exc
    return Definition(host.label, uuid, name, xml, host.readonly)


def check_edit(current: Definition, edited: str) -> Domain:
    """kvmtui's own checks of an edited text against the saved definition: it parses,
    it changes something, and it keeps the guest's name and UUID. Raises EditRefused."""

    def refused(message: str, line: int | None = None) -> EditRefused:
        return EditRefused(message, line=line, host=current.host, guest=current.name)

    if edited.strip() == current.xml.strip():
        raise refused("The text is the same as the saved definition: nothing to save.")
    try:
        domain = Domain.from_xml(edited)
    except DomainXmlError as exc:
        where = f" at line {exc.line}" if exc.line else ""
        detail = str(exc).removeprefix("not a domain XML: ")
        raise refused(f"The XML is malformed{where}: {detail}.", exc.line) from exc
    saved = Domain.from_xml(current.xml)
    if domain.name != saved.name:
        raise refused(
            f"The name changed from '{saved.name}' to '{domain.name}': renaming is an action "
            "of its own (the guest must be shut off). Put the name back to save this edit.",
            domain.line_of("name"),
        )
    if (domain.uuid or "").lower() != (saved.uuid or "").lower():
        raise refused(
            f"The UUID changed from {saved.uuid} to {domain.uuid or 'nothing'}: a guest keeps "
            "its UUID. Put it back to save this edit.",
            domain.line_of("uuid") or domain.line_of("domain"),
        )
    return domain


def diff_lines(before: str, after: str, name: str) -> tuple[str, ...]:
    """A unified diff of the saved definition and the edited text."""
    return tuple(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            fromfile=f"{name} (saved)",
            tofile=f"{name} (edited)",
            lineterm="",
        )
    )


def prepare(host: Host, uuid: str, opened: str, edited: str) -> Prepared:
    """Check ``edited`` against the definition libvirt has now and diff it; nothing is
    sent to libvirt but reads. ``opened`` is the text the editor started from. Blocking.

    Raises EditRefused, or :class:`errors.KvmtuiError` when the guest cannot be read.
    """
    host.require_writable(SAVE)
    current = read_definition(host, uuid)
    check_edit(current, edited)
    return Prepared(
        current=current,
        xml=edited,
        diff=diff_lines(current.xml, edited, current.name),
        changed_elsewhere=current.xml != opened,
    )


def define(host: Host, uuid: str, edited: str) -> str:
    """Validate ``edited`` against libvirt's schema and make it the guest's saved
    definition, in one call; returns the guest's name. Blocking.

    Refused before libvirt is called on a read-only connection, or when the text fails
    kvmtui's checks (:func:`check_edit`). Raises EditRefused (libvirt's message, and the
    line it points at) or :class:`errors.KvmtuiError`.
    """
    cached = host.guest(uuid)
    host.require_writable(SAVE, cached.name if cached else None)
    current = read_definition(host, uuid)
    domain = check_edit(current, edited)
    conn = host.connection(SAVE)
    try:
        conn.defineXMLFlags(edited, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    except libvirt.libvirtError as exc:
        failure = errors.from_libvirt(exc, host=host.label, action=SAVE, guest=current.name)
        line = libvirt_line(exc.get_error_message() or "", domain)
        where = f" (line {line})" if line else ""
        raise EditRefused(
            f"libvirt refused the definition{where}: {_one_line(failure.detail or str(exc))}.",
            line=line,
            host=host.label,
            guest=current.name,
            code=failure.code,
        ) from exc
    return current.name


def _one_line(message: str) -> str:
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


_LINE_PATTERNS = (
    re.compile(r"^\(domain_definition\):(\d+):"),  # libvirt's own parser
    re.compile(r"\bline (\d+)\b"),
)
_VALUE = re.compile(r"doesn't allow value '([^']*)'|Invalid value '([^']*)'")
_ATTRIBUTE = re.compile(r"Invalid attribute (\S+) for element (\S+)")
_ELEMENT = re.compile(r"(?:Extra element|Did not expect element|Element) (\S+)")


def libvirt_line(message: str, domain: Domain) -> int | None:
    """The line of the edited text that libvirt's message points at: the line it names,
    else the first element, attribute or value it names (schema errors name no line:
    "Extra element devices in interleave" gives the line of ``<devices>``)."""
    for text in message.splitlines():
        for pattern in _LINE_PATTERNS:
            found = pattern.search(text)
            if found:
                return int(found.group(1))
    for text in message.splitlines():
        value = _VALUE.search(text)
        if value:
            line = domain.line_of(value=value.group(1) or value.group(2))
            if line:
                return line
        attribute = _ATTRIBUTE.search(text)
        if attribute:
            line = domain.line_of(attribute.group(2), attribute=attribute.group(1))
            if line:
                return line
    for text in message.splitlines():
        element = _ELEMENT.search(text)
        if element and element.group(1) != "domain":
            line = domain.line_of(element.group(1))
            if line:
                return line
    return None
