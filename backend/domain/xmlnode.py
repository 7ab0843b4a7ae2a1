"""Typed properties bound to a path below one element of a parsed (lxml) document.

A :class:`XmlNode` wraps one element; a property declared on its class names where its
value lives, relative to that element, in a small path language:

- ``"name"``, ``"os/type"``: the text of a child (or grandchild) element;
- ``"@type"``, ``"target/@dev"``: an attribute of the element or of a descendant;
- :class:`Flag` (``"readonly"``): whether an empty child element is there.

Reading follows the first matching element of each step and gives None when something
is missing. Writing creates the elements it needs (placed where libvirt puts them, see
:data:`CHILD_ORDER`, and indented like their siblings) and writing None removes the
value, and then the elements left empty by that. Nothing else in the document is
touched: no other attribute, element, comment or whitespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from lxml import etree

T = TypeVar("T")
N = TypeVar("N", bound="XmlNode")

Element = etree._Element


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """How one XML string reads as a value and is written back."""

    read: Callable[[str], T | None]
    write: Callable[[T], str]


def _int(text: str) -> int | None:
    try:
        return int(text.strip(), 0) if text.strip().startswith("0x") else int(text.strip())
    except ValueError:
        return None


def _yesno(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text.strip())


def _onoff(text: str) -> bool | None:
    return {"on": True, "off": False}.get(text.strip())


STR: Kind[str] = Kind(lambda text: text, str)
INT: Kind[int] = Kind(_int, str)
YESNO: Kind[bool] = Kind(_yesno, lambda value: "yes" if value else "no")
ONOFF: Kind[bool] = Kind(_onoff, lambda value: "on" if value else "off")

#: Where libvirt writes each child of an element: a new child goes before the first
#: existing sibling that comes later here (unknown tags go last).
CHILD_ORDER: dict[str, tuple[str, ...]] = {
    "domain": (
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus",
        "iothreads", "cputune", "numatune", "resource", "sysinfo", "bootloader", "os",
        "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash",
        "on_lockfailure", "pm", "perf", "devices", "seclabel",
    ),
    "os": (
        "type", "firmware", "loader", "nvram", "kernel", "initrd", "dtb", "cmdline",
        "boot", "bootmenu", "smbios", "bios",
    ),
    "disk": (
        "driver", "source", "backingStore", "target", "iotune", "boot", "readonly",
        "shareable", "transient", "serial", "wwn", "alias", "address",
    ),
    "interface": (
        "mac", "source", "target", "model", "driver", "link", "mtu", "bandwidth", "boot",
        "alias", "address",
    ),
    "memballoon": ("stats", "alias", "address"),
    "bandwidth": ("inbound", "outbound"),
}  # fmt: skip


def _split(path: str) -> tuple[tuple[str, ...], str | None]:
    """``"target/@dev"`` -> (("target",), "dev"); ``"name"`` -> (("name",), None)."""
    steps = tuple(step for step in path.split("/") if step and step != ".")
    if steps and steps[-1].startswith("@"):
        return steps[:-1], steps[-1][1:]
    return steps, None


def find(element: Element, steps: tuple[str, ...]) -> Element | None:
    """The element at the end of ``steps`` (first match of each), or None."""
    return element.find("/".join(steps)) if steps else element


def _indent_of(element: Element) -> str | None:
    """The whitespace before ``element``'s start tag, if the document is indented."""
    parent = element.getparent()
    if parent is None:  # the root: indented unless its children share its first line
        return "\n" if len(element) == 0 or "\n" in (element.text or "") else None
    previous = element.getprevious()
    space = previous.tail if previous is not None else parent.text
    if space is None or space.strip() or "\n" not in space:
        return None
    return space[space.rindex("\n") :]


def indented(element: Element) -> bool:
    """Whether the document is laid out one element a line where ``element`` is."""
    return _indent_of(element) is not None


def insert_child(
    parent: Element,
    child: Element,
    order: Sequence[str] | None = None,
    after: Element | None = None,
) -> Element:
    """Put ``child`` into ``parent``, indented like its siblings when the document is
    indented: right after ``after`` if given, else where libvirt would (before the first
    sibling that comes later in ``order``, by default :data:`CHILD_ORDER`)."""
    if after is not None:
        order = ()
    elif order is None:
        order = CHILD_ORDER.get(parent.tag, ()) if isinstance(parent.tag, str) else ()

    def rank(tag: object) -> int:
        return order.index(tag) if isinstance(tag, str) and tag in order else len(order)

    index = next(
        (at for at, sibling in enumerate(parent) if rank(child.tag) < rank(sibling.tag)),
        len(parent),
    )
    if after is not None:
        index = parent.index(after) + 1
    outer = _indent_of(parent)
    if outer is None or (len(parent) == 0 and (parent.text or "").strip()):
        parent.insert(index, child)
        return child
    inner = outer + "  "
    if len(parent) == 0:
        parent.text, child.tail = inner, outer
    elif index >= len(parent):
        last = parent[-1]
        child.tail, last.tail = last.tail, inner
    else:
        child.tail = inner
    parent.insert(index, child)
    return child


def remove_element(element: Element) -> None:
    """Take ``element`` out, with the whitespace that indented it."""
    parent = element.getparent()
    if parent is None:
        return
    previous = element.getprevious()
    if element.tail is not None and (element.tail.strip() == ""):
        if previous is not None:
            previous.tail = element.tail
        elif len(parent) == 1 and not (parent.text or "").strip():
            parent.text = None
    elif element.tail:  # keep text that followed it
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _make(element: Element, steps: tuple[str, ...]) -> Element:
    for step in steps:
        found = element.find(step)
        element = found if found is not None else insert_child(element, etree.Element(step))
    return element


def _empty(element: Element) -> bool:
    return not element.attrib and len(element) == 0 and not (element.text or "").strip()


def _prune(element: Element, stop: Element) -> None:
    """Remove ``element`` and its ancestors up to (not including) ``stop`` while empty."""
    while element is not stop and _empty(element):
        parent = element.getparent()
        remove_element(element)
        if parent is None:
            return
        element = parent


class XmlNode:
    """A typed view of one element of a parsed document; edits go to that element."""

    __slots__ = ("element",)

    def __init__(self, element: Element) -> None:
        self.element = element

    @property
    def tag(self) -> str:
        return str(self.element.tag)

    def children(self, path: str, cls: type[N]) -> tuple[N, ...]:
        """Every element at ``path`` (e.g. ``"devices/disk"``), each as a ``cls``."""
        return tuple(cls(found) for found in self.element.iterfind(path))

    def child(self, path: str, cls: type[N]) -> N | None:
        found = self.element.find(path)
        return cls(found) if found is not None else None

    def remove(self, path: str) -> None:
        """Remove every element at ``path``; parents left empty go too."""
        for found in list(self.element.iterfind(path)):
            parent = found.getparent()
            remove_element(found)
            if parent is not None:
                _prune(parent, self.element)

    def xml(self) -> str:
        """This element alone, as text."""
        return etree.tostring(self.element, encoding="unicode", with_tail=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XmlNode) and other.element is self.element

    def __hash__(self) -> int:
        return id(self.element)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.xml()[:60]!r}>"


class Prop(Generic[T]):
    """The typed value at ``path`` (element text, or ``.../@attribute``)."""

    def __init__(self, path: str, kind: Kind[T]) -> None:
        self.path = path
        self.kind = kind
        self.steps, self.attribute = _split(path)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, node: None, owner: type) -> Prop[T]: ...
    @overload
    def __get__(self, node: XmlNode, owner: type) -> T | None: ...
    def __get__(self, node: XmlNode | None, owner: type) -> Prop[T] | T | None:
        if node is None:
            return self
        return self.read(node.element)

    def read(self, element: Element) -> T | None:
        found = find(element, self.steps)
        if found is None:
            return None
        text = found.get(self.attribute) if self.attribute else found.text
        return self.kind.read(text) if text is not None else None

    def __set__(self, node: XmlNode, value: T | None) -> None:
        if value is None:
            self.clear(node.element)
            return
        text = self.kind.write(value)
        target = _make(node.element, self.steps)
        if self.attribute:
            target.set(self.attribute, text)
        else:
            target.text = text

    def clear(self, element: Element) -> None:
        found = find(element, self.steps)
        if found is None:
            return
        if self.attribute:
            if self.attribute in found.attrib:
                del found.attrib[self.attribute]
        else:
            found.text = None
        _prune(found, element)


class Flag:
    """Whether an (empty) element is there: ``<readonly/>``, ``<shareable/>``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.steps, _ = _split(path)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, node: None, owner: type) -> Flag: ...
    @overload
    def __get__(self, node: XmlNode, owner: type) -> bool: ...
    def __get__(self, node: XmlNode | None, owner: type) -> Flag | bool:
        if node is None:
            return self
        return find(node.element, self.steps) is not None

    def __set__(self, node: XmlNode, value: bool) -> None:
        found = find(node.element, self.steps)
        if value and found is None:
            _make(node.element, self.steps)
        elif not value and found is not None:
            parent = found.getparent()
            remove_element(found)
            if parent is not None:
                _prune(parent, node.element)


def props(cls: type) -> Iterator[tuple[str, Prop[Any] | Flag]]:
    """Every typed property a node class declares, base classes first."""
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Prop | Flag) and name not in seen:
                seen.add(name)
                yield name, value
