"""The new-guest wizard (``n`` in the guest list, on the selected guest's host).

One step a page: Source, Operating system, Name/vCPUs/memory, Disk, Network, Cloud-init
(only for a cloud image), Firmware, Summary. Each field is checked as it is typed; the
step's problem shows under it and Forward waits until there is none. The summary shows
the domain XML (highlighted, read-only) and the equivalent virsh/virt-install lines;
Forward there creates the guest as a job (backend/create.py) and opens its console when
the job is done.

What the host offers (pools, networks, guests, CPUs, memory, UEFI) is read once in a
worker when the wizard opens; the OS list (osinfo-db, ~0.13 s) and the admin's
``~/.ssh/*.pub`` keys too.

The Cloud-init page (backend/cloudinit.py): a form (user, SSH keys, optional password,
hostname, packages, timezone, optional static address) or raw user-data YAML, or no
cloud-init. A typed password is hashed when the page is left (openssl, SHA-512 crypt) and
the field emptied: only the hash is kept, and the summary shows it redacted. The create
job builds the NoCloud seed and uploads it into the disk's pool (backend/seed.py), so a
remote host works the same; a later failure removes it with the job's other volumes.
"Detach the seed after the first boot" (on by default) marks the guest's definition;
kvmtui's seed watcher (backend/seed_watch.py) detaches the seed once that boot ended. With
it, the form's user-data keeps cloud-init's instance on later boots (``keep_instance``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    ContentSwitcher,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from kvmtui.backend import cloudinit, create, imagefile, osinfo, seed
from kvmtui.backend.cloudinit import CloudInitError
from kvmtui.backend.create_spec import (
    GIB,
    MIB,
    DirectBoot,
    DiskKind,
    DiskSpec,
    Firmware,
    NetworkKind,
    NetworkSpec,
    NewGuest,
    SeedBus,
    SeedSpec,
    SpecError,
    VolumeRef,
    check_mac,
    command_lines,
    domain_xml,
    upload_commands,
    with_macs,
)
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry
from kvmtui.backend.storage import StorageValueError, Volume, parse_size, validate_name
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.storage_tables import size_text
from kvmtui.tui.workers import work

SOURCES = (
    ("Cloud image (a volume): overlay or copy", "image"),
    ("Cloud image from a local file, uploaded by the job", "local"),
    ("Existing disk to import (a volume or a host path)", "import"),
    ("Installer ISO (a volume), booted as a CD-ROM", "iso"),
    ("Network boot (PXE)", "pxe"),
)
CI_MODES = (
    ("from these fields", "form"),
    ("raw user-data (YAML)", "raw"),
    ("no cloud-init", "none"),
)
RAW_TEMPLATE = f"{cloudinit.CLOUD_CONFIG_HEADER}\npackages:\n  - {cloudinit.AGENT_PACKAGE}\n"
#: The steps in order; "cloudinit" only for a cloud-image source (skipped otherwise).
STEPS: tuple[tuple[str, str], ...] = (
    ("source", "Source"),
    ("os", "OS"),
    ("name", "Name"),
    ("disk", "Disk"),
    ("network", "Network"),
    ("cloudinit", "Cloud-init"),
    ("firmware", "Firmware"),
    ("summary", "Summary"),
)
OS_LIST_LIMIT = 300


@dataclass
class FactsRead(Message, bubble=False):
    facts: create.HostFacts | None
    database: osinfo.OsDatabase | None
    error: str | None = None
    keys: tuple[tuple[str, str], ...] = ()  # the admin's ~/.ssh/*.pub: (file name, key)


@dataclass
class GuestReady(Message, bubble=False):
    uuid: str | None
    name: str


def _ref(text: str) -> VolumeRef | None:
    """``pool/volume`` or ``/a/path``; None when empty or neither."""
    typed = text.strip()
    if typed.startswith("/"):
        return VolumeRef(path=typed)
    pool, _, volume = typed.partition("/")
    return VolumeRef(pool, volume) if pool and volume else None


def _key_label(key: str) -> str:
    """A key's comment, or its type when it has none."""
    parts = key.split(" ", 2)
    return parts[2] if len(parts) > 2 else parts[0]


class NewGuestScreen(Screen[None]):
    CSS_PATH = "new_guest.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+f,pagedown", "forward", "Forward", tooltip="The next step (checks this)."),
        Binding("alt+b,pageup", "back", "Back", tooltip="The previous step."),
        Binding("ctrl+s", "create", "Create", tooltip="On the summary: create the guest."),
        Binding("escape", "cancel", "Cancel", tooltip="Leave the wizard; nothing is made."),
    ]

    def __init__(self, host: Host, jobs: JobRegistry) -> None:
        super().__init__()
        self.host = host
        self.jobs = jobs
        self.facts: create.HostFacts | None = None
        self.database: osinfo.OsDatabase | None = None
        self.step = 0
        self.os_choice: osinfo.OsInfo = osinfo.GENERIC_LINUX
        self.spec: NewGuest | None = None
        self.job_id: int | None = None
        # Set on the summary from the Cloud-init page: the job uploads the seed.
        self.make_seed: create.SeedMaker | None = None
        self.upload: create.LocalUpload | None = None  # a local file the job uploads first
        self.local_keys: tuple[tuple[str, str], ...] = ()
        self.password_hash: str | None = None  # never the password itself
        self.seed_files: cloudinit.SeedFiles | None = None  # from the page
        self.static_address: cloudinit.StaticAddress | None = None
        self.job_files: cloudinit.SeedFiles | None = None  # what the job uploads
        self._auto_hostname = ""

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(f"New guest on {self.host.label}", id="wizard-heading")
        yield Static("", id="wizard-steps")
        with ContentSwitcher(initial="source", id="wizard-pages"):
            with Vertical(id="source"):
                yield Select(SOURCES, value="image", allow_blank=False, id="source-kind",
                             compact=True)  # fmt: skip
                yield Input(placeholder="pool/volume or /path/on/host", id="source-ref",
                            compact=True)  # fmt: skip
                yield Static(
                    "A local file (on this machine) is uploaded into the disk's pool as the "
                    "create job's first step.",
                    classes="hint",
                )
            with Vertical(id="os"):
                yield Input(placeholder="search: debian, ubuntu 22.04, win...", id="os-search",
                            compact=True)  # fmt: skip
                yield OptionList(id="os-list", compact=True)
                yield Static("", id="os-facts")
            with Grid(id="name", classes="form"):
                yield Label("name")
                yield Input(id="guest-name", compact=True)
                yield Label("vCPUs")
                yield Input("1", id="guest-vcpus", compact=True)
                yield Label("memory MiB")
                yield Input("1024", id="guest-memory", compact=True)
                yield Static("", id="host-figures", classes="wide")
            with Grid(id="disk", classes="form"):
                yield Label("pool")
                yield Select([], id="disk-pool", compact=True, prompt="no pool")
                yield Label("size")
                yield Input("10G", id="disk-size", compact=True)
                yield Label("format")
                yield Select([("qcow2", "qcow2"), ("raw", "raw")], value="qcow2",
                             allow_blank=False, id="disk-format", compact=True)  # fmt: skip
                yield Label("image use")
                yield Select(
                    [("thin overlay (the image is never written)", "overlay"),
                     ("full copy", "copy")],
                    value="overlay", allow_blank=False, id="disk-mode", compact=True,
                )  # fmt: skip
                yield Label("extra disks")
                yield Input(placeholder="sizes, e.g. 20G, 5G", id="disk-extra", compact=True)
            with Grid(id="network", classes="form"):
                yield Label("kind")
                yield Select(
                    [("libvirt network", "network"), ("host bridge", "bridge"),
                     ("direct (macvtap)", "direct"), ("none", "none")],
                    value="none", allow_blank=False, id="net-kind", compact=True,
                )  # fmt: skip
                yield Label("source")
                yield Input(placeholder="network, bridge or interface", id="net-source",
                            compact=True)  # fmt: skip
                yield Label("MAC")
                yield Input(placeholder="generated", id="net-mac", compact=True)
                yield Static("Model: virtio (e1000e for an OS without virtio).", classes="wide")
            with VerticalScroll(id="cloudinit"):
                with Grid(classes="form"):
                    yield Label("cloud-init")
                    yield Select(CI_MODES, value="form", allow_blank=False, id="ci-mode",
                                 compact=True)  # fmt: skip
                with Grid(id="ci-common", classes="form"):
                    yield Label("hostname")
                    yield Input(id="ci-hostname", compact=True)
                    yield Label("seed on")
                    yield Select(
                        [("virtio disk", "virtio"), ("SCSI CD-ROM (virtio-scsi)", "scsi")],
                        value="virtio", allow_blank=False, id="ci-bus", compact=True,
                    )  # fmt: skip
                    yield Label("after boot")
                    yield Checkbox("Detach the seed after the first boot", value=True,
                                   id="ci-detach", compact=True)  # fmt: skip
                with ContentSwitcher(initial="ci-form", id="ci-switch"):
                    with Grid(id="ci-form", classes="form"):
                        yield Label("user")
                        yield Input(placeholder="e.g. admin", id="ci-user", compact=True)
                        yield Label("password")
                        yield Input(placeholder="optional; only its hash is kept",
                                    password=True, id="ci-password", compact=True)  # fmt: skip
                        yield Label("SSH keys")
                        yield Vertical(Static("(no ~/.ssh/*.pub)", classes="hint"), id="ci-keys")
                        yield Label("paste keys")
                        yield TextArea(id="ci-paste", tab_behavior="focus", soft_wrap=True,
                                       placeholder="one public key a line")  # fmt: skip
                        yield Label("packages")
                        yield Input(cloudinit.AGENT_PACKAGE, id="ci-packages", compact=True)
                        yield Label("timezone")
                        yield Input(placeholder="optional, e.g. Europe/Berlin", id="ci-timezone",
                                    compact=True)  # fmt: skip
                        yield Label("address")
                        yield Input(placeholder="DHCP, or e.g. 192.168.10.5/24",
                                    id="ci-address", compact=True)  # fmt: skip
                        yield Label("gateway")
                        yield Input(placeholder="optional", id="ci-gateway", compact=True)
                    yield TextArea(RAW_TEMPLATE, id="ci-raw", show_line_numbers=True,
                                   tab_behavior="focus", soft_wrap=False)  # fmt: skip
                    yield Static(
                        "No cloud-init: the image boots as it is, with the users and keys it "
                        "already has.",
                        id="ci-none",
                    )
            with Grid(id="firmware", classes="form"):
                yield Label("firmware")
                yield Select([("BIOS", "bios"), ("UEFI", "uefi")], value="bios",
                             allow_blank=False, id="fw-kind", compact=True)  # fmt: skip
                yield Label("accelerator")
                yield Select([("KVM", "kvm"), ("QEMU TCG (no KVM)", "qemu")], value="kvm",
                             allow_blank=False, id="fw-accel", compact=True)  # fmt: skip
                yield Label("graphics")
                yield Checkbox("VNC screen", value=False, id="fw-graphics", compact=True)
                yield Label("kernel")
                yield Input(placeholder="direct kernel boot: /path (optional)", id="fw-kernel",
                            compact=True)  # fmt: skip
                yield Label("initrd")
                yield Input(id="fw-initrd", compact=True)
                yield Label("cmdline")
                yield Input(id="fw-cmdline", compact=True)
                yield Static(
                    "A serial console and a guest-agent channel are always added.",
                    id="fw-facts",
                    classes="wide",
                )
            with VerticalScroll(id="summary"):
                yield Static("", id="summary-xml")
                yield Static("", id="summary-seed")
                yield Static("", id="summary-commands")
        yield Static("", id="wizard-problem")
        yield Footer()

    def on_mount(self) -> None:
        self._show_step()
        self._read_facts()

    # -- reading the host ---------------------------------------------------------------

    @work(doing="reading what a new guest can use", group="wizard-facts", exclusive=True)
    def _read_facts(self) -> None:
        try:
            facts = create.read_facts(self.host)
            database = osinfo.load()
        except KvmtuiError as exc:
            self.post_message(FactsRead(None, None, str(exc)))
            return
        keys = tuple((path.name, key) for path, key in cloudinit.local_public_keys())
        self.post_message(FactsRead(facts, database, keys=keys))

    def on_facts_read(self, message: FactsRead) -> None:
        if message.facts is None:
            self._problem(message.error or "")
            return
        self.facts, self.database = message.facts, message.database
        facts = message.facts
        pools = [
            (f"{p.name} ({size_text(p.available_bytes)} free)", p.name)
            for p in facts.pools
            if p.active
        ]
        pool_select = self.query_one("#disk-pool", Select)
        pool_select.set_options(pools)
        if pools:
            pool_select.value = pools[0][1]
        active = [n.name for n in facts.networks if n.active]
        if active:
            self.query_one("#net-kind", Select).value = "network"
            self.query_one("#net-source", Input).value = active[0]
        if not facts.kvm:
            self.query_one("#fw-accel", Select).value = "qemu"
        if facts.uefi_reason:
            self.query_one("#fw-facts", Static).update(
                f"{facts.uefi_reason}\nA serial console and a guest-agent channel are always added."
            )
        self._offer_keys(message.keys)
        self._fill_os("")
        self._check()

    def _offer_keys(self, keys: tuple[tuple[str, str], ...]) -> None:
        """The admin's public keys as checkboxes, all checked."""
        self.local_keys = keys
        if not keys:
            return
        box = self.query_one("#ci-keys", Vertical)
        box.remove_children()
        box.mount_all(
            Checkbox(f"{name} ({_key_label(key)})", value=True, id=f"ci-key-{index}", compact=True)
            for index, (name, key) in enumerate(keys)
        )

    # -- the OS list ------------------------------------------------------------------------

    def _fill_os(self, text: str) -> None:
        if self.database is None:
            return
        found = self.database.search(text, OS_LIST_LIMIT)
        options = self.query_one("#os-list", OptionList)
        options.clear_options()
        options.add_options([Option(e.name, id=e.id) for e in found])
        if found:
            options.highlighted = 0

    @on(Input.Changed, "#os-search")
    def _os_search(self, event: Input.Changed) -> None:
        self._fill_os(event.value)

    @on(OptionList.OptionHighlighted, "#os-list")
    def _os_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self.database is None or event.option.id is None:
            return
        chosen = self.database.get(event.option.id)
        if chosen is not None:
            self.os_choice = chosen
            self.query_one("#os-facts", Static).update(self._os_text(chosen))

    def _os_text(self, entry: osinfo.OsInfo) -> str:
        def mib(n: int | None) -> str:
            return f"{n // MIB} MiB" if n else "?"

        def gib(n: int | None) -> str:
            return f"{n / GIB:g} GiB" if n else "?"

        return (
            f"{entry.name}: minimum {mib(entry.minimum.ram_bytes)}, "
            f"{entry.minimum.vcpus or '?'} vCPU, {gib(entry.minimum.storage_bytes)} disk; "
            f"recommended {mib(entry.recommended.ram_bytes)}, "
            f"{gib(entry.recommended.storage_bytes)} disk. "
            f"{'virtio' if entry.virtio else 'no virtio'}, machine {entry.machine}"
            + (", needs UEFI" if entry.needs_uefi else "")
        )

    # -- checks as typed ------------------------------------------------------------------

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        self._check()

    @on(Select.Changed, "#ci-mode")
    def _ci_mode(self) -> None:
        mode = self._select("#ci-mode") or "form"
        self.query_one("#ci-switch", ContentSwitcher).current = f"ci-{mode}"
        self.query_one("#ci-common").display = mode != "none"

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _select(self, selector: str) -> str:
        value = self.query_one(selector, Select).value
        return "" if value is Select.BLANK else str(value)

    def _step_problem(self, step: str) -> str | None:
        """What is wrong with the step's fields, or None."""
        kind = self._select("#source-kind")
        if step == "source":
            if kind == "local":
                return self._local_problem()
            if kind != "pxe" and _ref(self._value("#source-ref")) is None:
                return "Type the source as pool/volume or as a /path on the host."
            volume = self._source_volume()
            if kind != "pxe" and self.facts is not None and volume is None:
                ref = _ref(self._value("#source-ref"))
                if ref is not None and ref.pool:
                    return f"There is no volume '{ref.text}' on {self.facts.host}."
            return None
        if step == "name":
            for selector, what in (("#guest-vcpus", "vCPUs"), ("#guest-memory", "memory")):
                text = self._value(selector)
                if not text.isdigit() or int(text) < 1:
                    return f"{what} must be a whole number of at least 1."
            self._host_figures()
            return create.name_problem(self.query_one("#guest-name", Input).value, self.facts)
        if step == "disk":
            try:
                if kind != "import":
                    parse_size(self._value("#disk-size"))
                for extra in self._extra_sizes():
                    parse_size(extra)
            except StorageValueError as exc:
                return str(exc)
            if kind != "import" and not self._select("#disk-pool"):
                return "Choose a pool for the new volume (no pool is running on this host)."
            image = self._source_volume()
            capacity = image.capacity_bytes if kind == "image" and image is not None else 0
            if kind == "local":
                local = self._local_file()
                capacity = local.virtual_bytes if local is not None else 0
                if taken := self._upload_taken():
                    return taken
            if capacity and parse_size(self._value("#disk-size")) < capacity:
                return f"The disk must be at least the image's {size_text(capacity)}."
            return None
        if step == "network":
            net_kind = self._select("#net-kind")
            if net_kind != "none" and not self._value("#net-source"):
                return "Type the network, bridge or interface."
            if net_kind == "network" and self.facts is not None:
                known = {n.name: n for n in self.facts.networks}
                found = known.get(self._value("#net-source"))
                if found is None:
                    return f"There is no network '{self._value('#net-source')}' on this host."
                if not found.active:
                    return f"The network '{found.name}' is not active; start it first."
            if self._value("#net-mac"):
                try:
                    check_mac(self._value("#net-mac"))
                except SpecError as exc:
                    return str(exc)
            return None
        if step == "cloudinit":
            try:
                self._cloudinit_checks()
            except (CloudInitError, StorageValueError) as exc:
                return str(exc)
            return None
        if step == "firmware":
            if self._select("#fw-kind") == "uefi" and self.facts and not self.facts.uefi:
                return self.facts.uefi_reason
            if self._select("#fw-kind") == "bios" and self.os_choice.needs_uefi:
                return f"{self.os_choice.name} needs UEFI."
            if (self._value("#fw-initrd") or self._value("#fw-cmdline")) and not self._value(
                "#fw-kernel"
            ):
                return "An initrd or command line needs a kernel."
            return None
        return None

    # -- the Cloud-init page -------------------------------------------------------------

    def _cloudinit_on(self) -> bool:
        return self._cloud_image() and self._select("#ci-mode") != "none"

    def _cloud_image(self) -> bool:
        return self._select("#source-kind") in ("image", "local")

    # -- a local file as the cloud image ---------------------------------------------------

    def _local_file(self) -> imagefile.ImageFile | None:
        try:
            return imagefile.probe(os.path.expanduser(self._value("#source-ref")))
        except imagefile.ImageFileError:
            return None

    def _local_problem(self) -> str | None:
        """The local path is a readable qcow2 or raw file on this machine (a header read)."""
        typed = os.path.expanduser(self._value("#source-ref"))
        if not typed.startswith("/"):
            return "Type the local file's full path (/... or ~/...) on this machine."
        try:
            imagefile.probe(typed)
        except imagefile.ImageFileError as exc:
            return str(exc)
        return None

    def _upload_target(self) -> create.LocalUpload:
        path = os.path.expanduser(self._value("#source-ref"))
        return create.LocalUpload(path, self._select("#disk-pool"), os.path.basename(path))

    def _upload_taken(self) -> str | None:
        target = self._upload_target()
        pool = self.facts.pool(target.pool) if self.facts else None
        if pool is not None and pool.volume(target.name) is not None:
            return (
                f"Pool '{target.pool}' already has a volume named '{target.name}': use it as "
                "a cloud image (a volume), or choose another pool."
            )
        return None

    def _ci_keys(self) -> list[str]:
        chosen = [
            key for index, (_name, key) in enumerate(self.local_keys)
            if self.query_one(f"#ci-key-{index}", Checkbox).value
        ]  # fmt: skip
        return chosen + self.query_one("#ci-paste", TextArea).text.splitlines()

    def _ci_network(self) -> cloudinit.StaticAddress | None:
        address = self._value("#ci-address")
        if not address:
            if self._value("#ci-gateway"):
                raise CloudInitError("A gateway needs a static address; type it above.")
            return None
        return cloudinit.StaticAddress.checked(address, self._value("#ci-gateway") or None)

    def _seed_ref(self) -> VolumeRef:
        return VolumeRef(self._select("#disk-pool"), seed.seed_volume_name(self._guest_name()))

    def _guest_name(self) -> str:
        return self.query_one("#guest-name", Input).value

    def _cloudinit_checks(self) -> None:
        """Each field of the page, checked as typed (the first refusal raised)."""
        if self._select("#ci-mode") == "none":
            return
        cloudinit.check_hostname(self._value("#ci-hostname"))
        ref = self._seed_ref()
        pool = self.facts.pool(str(ref.pool)) if self.facts else None
        validate_name(str(ref.name), pool)
        if self._select("#ci-mode") == "raw":
            cloudinit.check_user_data(self.query_one("#ci-raw", TextArea).text)
            return
        cloudinit.check_user(self._value("#ci-user"))
        keys = cloudinit.check_ssh_keys(self._ci_keys())
        cloudinit.check_packages(self._value("#ci-packages").replace(",", " ").split())
        if self._value("#ci-timezone"):
            cloudinit.check_timezone(self._value("#ci-timezone"))
        self._ci_network()
        has_password = bool(self._value("#ci-password")) or self.password_hash is not None
        cloudinit.check_can_log_in(keys, has_password)

    def _leave_cloudinit(self) -> str | None:
        """Leaving the page forward: hash a typed password (and forget it), make the seed's
        files. A problem sentence, or None."""
        try:
            password = self.query_one("#ci-password", Input)
            if password.value:
                self.password_hash = cloudinit.hash_password(password.value)
                password.value = ""
                password.placeholder = "set (only its hash is kept); type to replace"
            self.static_address = None
            if self._select("#ci-mode") == "none":
                self.seed_files = None
            elif self._select("#ci-mode") == "raw":
                self.seed_files = cloudinit.raw_seed_files(
                    self.query_one("#ci-raw", TextArea).text, self._value("#ci-hostname")
                )
            else:
                self.static_address = self._ci_network()
                self.seed_files = cloudinit.seed_files(
                    cloudinit.CloudInit.checked(
                        hostname=self._value("#ci-hostname"),
                        user=self._value("#ci-user"),
                        ssh_keys=self._ci_keys(),
                        password_hash=self.password_hash,
                        packages=self._value("#ci-packages").replace(",", " ").split(),
                        timezone=self._value("#ci-timezone") or None,
                        network=self.static_address,
                        keep_instance=self.query_one("#ci-detach", Checkbox).value,
                    )
                )
        except CloudInitError as exc:
            return str(exc)
        return None

    def _default_hostname(self) -> None:
        """The hostname follows the guest's name (characters a host name cannot hold
        made '-') until the admin types another."""
        field = self.query_one("#ci-hostname", Input)
        if field.value in ("", self._auto_hostname):
            name = re.sub(r"[^A-Za-z0-9.-]+", "-", self._guest_name().strip()).strip(".-")
            self._auto_hostname = field.value = name[:63].rstrip(".-")

    def _source_volume(self) -> Volume | None:
        """The source as a volume of the host's pools, when it is one."""
        ref = _ref(self._value("#source-ref"))
        if self.facts is None or ref is None:
            return None
        for pool in self.facts.pools:
            for volume in pool.volumes:
                if (ref.pool, ref.name) == (pool.name, volume.name) or ref.path == volume.path:
                    return volume
        return None

    def _extra_sizes(self) -> list[str]:
        return [s.strip() for s in self._value("#disk-extra").split(",") if s.strip()]

    def _host_figures(self) -> None:
        facts = self.facts
        if facts is None:
            return
        from kvmtui.backend.hoststats import overcommit

        vcpus, memory = int(self._value("#guest-vcpus")), int(self._value("#guest-memory"))
        after = overcommit(self.host.guests(), facts.cpus, facts.memory_kib)
        cpu_ratio = (after.defined_vcpus + vcpus) / facts.cpus if facts.cpus else 0
        mem_ratio = (after.defined_mem_kib + memory * 1024) / facts.memory_kib
        minimum = self.os_choice.minimum
        self.query_one("#host-figures", Static).update(
            f"Host: {facts.cpus} CPUs, {facts.memory_kib // 1024} MiB. After this guest "
            f"(all defined guests): vCPUs {cpu_ratio:.2f}x, memory {mem_ratio:.0%}.\n"
            f"{self.os_choice.name} minimum: {minimum.vcpus or '?'} vCPU, "
            f"{(minimum.ram_bytes or 0) // MIB or '?'} MiB."
        )

    def _check(self) -> str | None:
        problem = self._step_problem(STEPS[self.step][0])
        self._problem(problem or "")
        return problem

    @property
    def problem_text(self) -> str:
        return str(self.query_one("#wizard-problem", Static).render())

    def _problem(self, text: str) -> None:
        self.query_one("#wizard-problem", Static).update(text)

    # -- moving between steps ---------------------------------------------------------------

    def _active(self, index: int) -> bool:
        """The step is shown: Cloud-init only for a cloud-image source."""
        return STEPS[index][0] != "cloudinit" or self._cloud_image()

    def _show_step(self) -> None:
        name, _title = STEPS[self.step]
        self.query_one("#wizard-pages", ContentSwitcher).current = name
        steps = Text()
        shown = [index for index in range(len(STEPS)) if self._active(index)]
        for number, index in enumerate(shown, start=1):
            if number > 1:
                steps.append("  ")  # two spaces: all 8 steps fit on one line at 80 columns
            title = STEPS[index][1]
            style = "bold reverse" if index == self.step else "dim" if index > self.step else ""
            steps.append(f"{number} {title}", style=style)
        self.query_one("#wizard-steps", Static).update(steps)
        if name == "cloudinit":
            self._default_hostname()
        if name == "summary":
            self._summary()
        else:
            self._check()
        page = self.query_one(f"#{name}")
        first = page.query("Input, Select, OptionList")
        if first:
            first.first().focus()
        elif page.can_focus:
            page.focus()
        self.refresh_bindings()

    def action_forward(self) -> None:
        if self.job_id is not None:
            return
        if STEPS[self.step][0] == "summary":
            return
        if self._check() is not None:
            return
        if STEPS[self.step][0] == "cloudinit" and (problem := self._leave_cloudinit()):
            self._problem(problem)
            return
        self.step += 1
        while not self._active(self.step):
            self.step += 1
        self._show_step()

    def action_create(self) -> None:
        if STEPS[self.step][0] == "summary" and self.job_id is None:
            self._create()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        summary = STEPS[self.step][0] == "summary"
        if action == "create":
            return True if summary and self.spec is not None and self.job_id is None else None
        if action == "forward":
            return None if summary else True
        return True

    def action_back(self) -> None:
        if self.step > 0 and self.job_id is None:
            self.step -= 1
            while not self._active(self.step):
                self.step -= 1
            self._show_step()

    def action_cancel(self) -> None:
        self.dismiss(None)

    # -- the spec, the summary, the job -------------------------------------------------------

    def build_spec(self) -> NewGuest:
        kind = self._select("#source-kind")
        ref = _ref(self._value("#source-ref"))
        pool = self._select("#disk-pool") or None
        self.upload = self._upload_target() if kind == "local" else None
        if self.upload is not None:
            ref, kind = self.upload.ref, "image"
        fmt = self._select("#disk-format")
        size = parse_size(self._value("#disk-size")) if kind != "import" else None
        disks: list[DiskSpec] = []
        if kind == "image":
            mode = DiskKind(self._select("#disk-mode"))
            disks.append(DiskSpec(mode, ref, pool=pool, size_bytes=size, format=fmt))
        elif kind == "import":
            disks.append(DiskSpec(DiskKind.IMPORT, ref))
        else:
            disks.append(DiskSpec(DiskKind.EMPTY, pool=pool, size_bytes=size, format=fmt))
        for extra in self._extra_sizes():
            disks.append(DiskSpec(DiskKind.EMPTY, pool=pool, size_bytes=parse_size(extra),
                                  format=fmt))  # fmt: skip
        net_kind = NetworkKind(self._select("#net-kind"))
        nic = NetworkSpec(
            net_kind,
            self._value("#net-source") or None,
            model="virtio" if self.os_choice.virtio else "e1000e",
            mac=check_mac(self._value("#net-mac")) if self._value("#net-mac") else None,
        )
        kernel = self._value("#fw-kernel")
        spec = NewGuest(
            name=self.query_one("#guest-name", Input).value,
            os=self.os_choice,
            vcpus=int(self._value("#guest-vcpus")),
            memory_mib=int(self._value("#guest-memory")),
            disks=tuple(disks),
            networks=(nic,) if net_kind is not NetworkKind.NONE else (),
            firmware=Firmware.UEFI if self._select("#fw-kind") == "uefi" else Firmware.BIOS,
            graphics=self.query_one("#fw-graphics", Checkbox).value,
            cdrom=ref if kind == "iso" else None,
            direct_boot=DirectBoot(kernel, self._value("#fw-initrd") or None,
                                   self._value("#fw-cmdline") or None) if kernel else None,
            boot_network=kind == "pxe",
            domain_type=self._select("#fw-accel"),
        )  # fmt: skip
        spec = with_macs(spec)
        self.make_seed, self.job_files = None, None
        if self._cloudinit_on() and self.seed_files is not None:
            ref = self._seed_ref()
            detach = self.query_one("#ci-detach", Checkbox).value
            spec = replace(spec, seed=SeedSpec(ref, SeedBus(self._select("#ci-bus")), detach))
            self.job_files = files = self._with_nic_mac(self.seed_files, spec)
            self.make_seed = seed.seed_maker(str(ref.pool), str(ref.name), files)
        return spec

    def _with_nic_mac(self, files: cloudinit.SeedFiles, spec: NewGuest) -> cloudinit.SeedFiles:
        """The static address matched by the NIC's MAC (cloud-init 22.4's networkd
        renderer names a NIC matched by name alone after its key, "nic0", and never
        configures it: seen here, networkd-wait-online then held the boot 2 minutes)."""
        mac = spec.networks[0].mac if spec.networks else None
        if self.static_address is None or mac is None:
            return files
        matched = replace(self.static_address, mac=mac)
        return replace(files, network_config=cloudinit.network_config(matched))

    def _summary(self) -> None:
        try:
            self.spec = spec = self.build_spec()
            xml = domain_xml(spec)
        except (KvmtuiError, ValueError) as exc:
            self._problem(str(exc))
            return
        self.query_one("#summary-xml", Static).update(
            Syntax(xml.rstrip(), "xml", theme="ansi_dark", background_color="default")
        )
        self.query_one("#summary-seed", Static).update(self._seed_summary(spec))
        upload = self.upload
        lines = command_lines(spec, self.host.uri, self._image_paths(spec))
        if upload is not None:
            local = self._local_file()
            lines = upload_commands(
                self.host.uri, upload.pool, upload.name, upload.path,
                local.virtual_bytes if local else 0, local.format if local else "qcow2",
            ) + "\n" + lines  # fmt: skip
        self.query_one("#summary-commands", Static).update(
            "The same with virsh and virt-install:\n" + lines
        )
        warnings = self._nic_warnings(spec)
        self._problem(
            "".join(f"Warning: {w[0].upper()}{w[1:]} " for w in warnings)
            + f"ctrl+s creates the guest{' anyway' if warnings else ''} (a job), "
            "then opens its console."
        )

    def _nic_warnings(self, spec: NewGuest) -> list[str]:
        """What may not work with a bridge or macvtap NIC, from the host's interfaces read
        when the wizard opened (the job checks again; a name found nowhere it refuses)."""
        if self.facts is None:
            return []
        checks = (
            create.check_host_interface(self.facts.interfaces, nic.kind, str(nic.source))
            for nic in spec.networks
            if nic.kind in (NetworkKind.BRIDGE, NetworkKind.DIRECT)
        )
        return [checked.warning for checked in checks if checked.warning]

    def _seed_summary(self, spec: NewGuest) -> Text:
        if spec.seed is None or self.job_files is None:
            return Text("No cloud-init seed.")
        seed_ref, files = spec.seed.volume, self.job_files
        where = "a virtio disk" if spec.seed.bus is SeedBus.VIRTIO else "a SCSI CD-ROM"
        text = Text.assemble(
            "Cloud-init seed ",
            (seed_ref.text, "bold"),
            f" (NoCloud ISO, label {seed.SEED_LABEL}) on {where}, built and uploaded by the job. ",
            "Detached after the first boot (kept in the pool). "
            if spec.seed.detach_after_first_boot
            else "Left attached after the first boot (x in the details detaches it). ",
            "Its user-data:\n",
        )
        text.append(cloudinit.redacted(files.user_data).rstrip())
        if files.network_config is not None:
            text.append("\nnetwork-config:\n" + files.network_config.rstrip())
        return text

    def _image_paths(self, spec: NewGuest) -> dict[int, str]:
        """Each image's path on the host, from the pools read (for the virsh lines)."""
        paths: dict[int, str] = {}
        for index, disk in enumerate(spec.disks):
            ref = disk.source
            pool = self.facts.pool(ref.pool) if self.facts and ref and ref.pool else None
            volume = pool.volume(str(ref.name)) if pool is not None and ref else None
            if volume is not None:
                paths[index] = volume.path
            elif ref is not None and ref.path:
                paths[index] = ref.path
        return paths

    def _create(self) -> None:
        if self.spec is None:
            return
        view = create.start_create(
            self.jobs, self.host, replace(self.spec), make_seed=self.make_seed, upload=self.upload
        )
        self.job_id = view.id
        self._problem(f"Creating: {view.phase}")

    def on_job_changed(self, message: messages.JobChanged) -> None:
        view = message.view
        if view.id != self.job_id:
            return
        if not view.finished:
            self._problem(f"Creating: {view.phase} ({view.done} of {view.total or '?'} steps)")
            return
        self.job_id = None
        self._problem(view.outcome or "")
        if view.state == "done" and self.spec is not None:
            self._find_guest(self.spec.name)

    @work(doing="looking up the new guest", group="wizard-guest")
    def _find_guest(self, name: str) -> None:
        try:
            uuid = self.host.connection().lookupByName(name).UUIDString()
        except Exception:
            uuid = None
        self.post_message(GuestReady(uuid, name))

    def on_guest_ready(self, message: GuestReady) -> None:
        if message.uuid is None:
            return
        from kvmtui.screens.console import show_console

        self.dismiss(None)
        reason = show_console(self.app, self.host, message.uuid, message.name)
        if reason is not None:
            self.app.notify(reason)
