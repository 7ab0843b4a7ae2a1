"""What the throttle editors' workers report to their screens.

Posted from thread workers (``post_message`` is thread-safe); handled by the screen
that started the worker, which owns every UI change.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from kvmtui.backend.bandwidth import BandwidthResult, GuestBandwidth
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.iotune import GuestIoTune, GuestOutcome, IoTuneResult
from kvmtui.backend.stats import DeviceRates
from kvmtui.backend.throttle import FieldError, ValidationError


@dataclass
class LimitsLoaded(Message):
    """Every disk's and interface's limits, live and saved."""

    disks: GuestIoTune
    nics: GuestBandwidth


@dataclass
class LimitsApplied(Message):
    """A change went through; ``result`` holds before, after and what was not kept."""

    result: IoTuneResult | BandwidthResult


@dataclass
class LimitsFailed(Message):
    """Reading or applying failed; ``error`` is a sentence for the admin."""

    error: str
    field_errors: tuple[FieldError, ...] = ()

    @staticmethod
    def of(exc: KvmtuiError) -> LimitsFailed:
        """The error's sentence, and the fields at fault when the settings were refused."""
        return LimitsFailed(str(exc), exc.field_errors if isinstance(exc, ValidationError) else ())


@dataclass
class RatesSampled(Message):
    """Live per-device rates of the guest (None: not known yet or not running)."""

    disks: tuple[DeviceRates, ...] | None
    nics: tuple[DeviceRates, ...] | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RatesSampled)


@dataclass
class BatchApplied(Message):
    """One outcome per guest of a several-guests change."""

    outcomes: tuple[GuestOutcome, ...]
