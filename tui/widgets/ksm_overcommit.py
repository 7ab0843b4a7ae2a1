"""One host's overcommit as a table: running and defined against CPUs, memory, memory + KSM."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kvmtui.backend.overcommit import Density, Level, Thresholds
from kvmtui.tui.format import human_kib

LEVEL_STYLES: dict[Level, str] = {
    Level.OK: "green",
    Level.WARN: "yellow",
    Level.CRITICAL: "bold red",
    Level.UNKNOWN: "dim",
}


def ratio_cell(ratio: float | None, level: Level) -> Text:
    return Text("-" if ratio is None else f"{ratio:.2f}x", style=LEVEL_STYLES[level])


def overcommit_view(density: Density | None, thresholds: Thresholds) -> RenderableType:
    """Rows running / defined; columns guests, vCPUs and ratio, memory and its two ratios."""
    if density is None:
        return Text("overcommit: not read yet", style="dim")
    over = density.overcommit
    # One space between columns: with two, the seven columns need 84 cells and cut the
    # memory figures ("30.5 G…") at 80x24.
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for title in ("", "guests", "vCPUs", "of CPUs", "memory", "of RAM", "of RAM+KSM"):
        table.add_column(title, justify="left" if not title else "right", no_wrap=True)
    host_mem = over.host_mem_kib
    with_ksm = density.mem_with_ksm_kib
    table.add_row(
        "host",
        "",
        str(over.host_cpus),
        "",
        human_kib(host_mem) if host_mem else "-",
        "",
        human_kib(with_ksm) if with_ksm else "-",
    )
    for label, guests, vcpus, vratio, mem, mratio, kratio in (
        ("active", over.running_guests, over.running_vcpus, over.running_vcpu_ratio,
         over.running_mem_kib, over.running_mem_ratio, density.running_mem_ratio_with_ksm),
        ("defined", over.defined_guests, over.defined_vcpus, over.defined_vcpu_ratio,
         over.defined_mem_kib, over.defined_mem_ratio, density.defined_mem_ratio_with_ksm),
    ):  # fmt: skip
        table.add_row(
            label,
            str(guests),
            str(vcpus),
            ratio_cell(vratio, thresholds.cpu_level(vratio)),
            human_kib(mem),
            ratio_cell(mratio, thresholds.mem_level(mratio)),
            ratio_cell(kratio, thresholds.mem_level(kratio)),
        )
    if density.would_not_fit:
        names = ", ".join(density.would_not_fit)
        fit = Text.assemble(("Would not fit if all started: ", "bold red"), (names, "red"))
    else:
        fit = Text("Every defined guest fits in memory if all are started.", style="green")
    legend = Text(
        f"thresholds: vCPU warn {thresholds.cpu_warn:g}x, critical {thresholds.cpu_critical:g}x; "
        f"memory warn {thresholds.mem_warn:g}x, critical {thresholds.mem_critical:g}x (t)",
        style="dim",
    )
    return Group(table, fit, legend)
