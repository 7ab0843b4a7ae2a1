"""The device's live rates beside its limits, so the admin sees throttling happen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kvmtui.backend import bandwidth, iotune
from kvmtui.backend.stats import DeviceRates
from kvmtui.backend.throttle import binary_text

#: A rate within this share of its limit counts as "at the limit".
AT_LIMIT = 0.9


def _bytes(per_second: float | None) -> str:
    if per_second is None:
        return "-"
    return binary_text(round(per_second), "B/s") if per_second >= 1 else "0 B/s"


def _count(per_second: float | None, unit: str) -> str:
    return "-" if per_second is None else f"{per_second:.0f} {unit}"


def _sum(*values: float | None) -> float | None:
    return None if any(v is None for v in values) else sum(v or 0.0 for v in values)


def _against(now: float | None, limit: int, text: str) -> Text:
    """``now`` beside ``limit``: yellow at the limit, "(no limit)" when there is none."""
    if not limit:
        return Text("")
    share = (now or 0.0) / limit
    style = "bold yellow" if share >= AT_LIMIT else "dim"
    return Text(f" / {text} ({share:.0%})", style=style)


class DiskRatesView(Static):
    """Read and write throughput and IOPS of one disk against its limits (the live side)."""

    DEFAULT_CSS = "DiskRatesView { height: auto; padding: 0 1; background: $boost; }"

    def show(
        self, disk: str, rates: DeviceRates | None, limits: iotune.IoTune | None, *, running: bool
    ) -> None:
        limits = limits or iotune.IoTune.of()
        if rates is None:
            why = "not measured yet" if running else "the guest is not running"
            self.update(Text(f"{disk}: no live figures ({why})", style="dim"))
            return
        text = Text(f"{disk} now  ", style="bold")
        rows = (
            ("read ", rates.in_bps, rates.in_ps, "read"),
            ("write", rates.out_bps, rates.out_ps, "write"),
            ("total", _sum(rates.in_bps, rates.out_bps), _sum(rates.in_ps, rates.out_ps), "total"),
        )
        for index, (title, bps, ops, way) in enumerate(rows):
            if index:
                text.append("\n          ")
            byte_limit = limits.get(f"{way}_bytes_sec")
            iops_limit = limits.get(f"{way}_iops_sec")
            text.append(f"{title} {_bytes(bps):>11}")
            text.append_text(
                _against(bps, byte_limit, iotune.display(f"{way}_bytes_sec", byte_limit))
            )
            text.append(f"  {_count(ops, 'IOPS'):>9}")
            text.append_text(_against(ops, iops_limit, f"{iops_limit} IOPS"))
        self.update(text)


class NicRatesView(Static):
    """Traffic to and from the guest on one interface against its average limits."""

    DEFAULT_CSS = "NicRatesView { height: auto; padding: 0 1; background: $boost; }"

    def show(
        self,
        nic: str,
        rates: DeviceRates | None,
        limits: bandwidth.Bandwidth | None,
        *,
        running: bool,
    ) -> None:
        limits = limits or bandwidth.Bandwidth.of()
        if rates is None:
            why = "not measured yet" if running else "the guest is not running"
            self.update(Text(f"{nic}: no live figures ({why})", style="dim"))
            return
        text = Text(f"{nic} now  ", style="bold")
        for index, (title, bps, pps, direction) in enumerate(
            (("in (to guest)   ", rates.in_bps, rates.in_ps, "inbound"),
             ("out (from guest)", rates.out_bps, rates.out_ps, "outbound"))
        ):  # fmt: skip
            if index:
                text.append("\n" + " " * (len(nic) + 6))
            average = bandwidth_limit = limits.get(f"{direction}.average")
            text.append(f"{title} {_bytes(bps):>11}")
            text.append_text(
                _against(
                    bps, average * 1024, bandwidth.display(f"{direction}.average", bandwidth_limit)
                )
            )
            text.append(f"  {_count(pps, 'pkt/s'):>10}")
        self.update(text)
