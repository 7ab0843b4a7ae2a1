"""The soak benchmark's verdict (bench/soak.py): a rise is growth, a fall is not, CPU is
judged per churn action and RSS by its trend, not by single minutes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SOAK = Path(__file__).parents[2] / "bench" / "soak.py"


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


soak = load_soak()


def minutes(rss: list[float], cpu: list[float], actions: list[int], objects: list[int]) -> list:
    rows = zip(rss, cpu, actions, objects, strict=True)
    return [soak.Minute(i + 1, *row) for i, row in enumerate(rows)]


def test_memory_given_back_is_a_fall_not_growth() -> None:
    word, lines = soak.verdict(minutes([90, 95, 95, 90, 85, 80], [5] * 6, [30] * 6, [1000] * 6))
    assert word == "FALLING"
    assert "RSS falling" in lines[-1]


def test_rss_rising_after_the_settling_minutes_is_growth() -> None:
    word, lines = soak.verdict(minutes([60, 80, 80, 84, 88, 92], [5] * 6, [30] * 6, [1000] * 6))
    assert word == "GROWING"
    assert lines[0].startswith("RSS: trend +") and lines[0].endswith("rising")


def test_cpu_is_judged_per_action_not_per_minute() -> None:
    """Twice the churn in the second half, twice the CPU: the same cost per action."""
    steady = soak.verdict(minutes([80] * 6, [9, 9, 4, 4, 8, 8], [30, 30, 20, 20, 40, 40], [1] * 6))
    assert steady[0] == "FLAT"
    costlier = soak.verdict(minutes([80] * 6, [9, 9, 4, 4, 8, 8], [30] * 6, [1] * 6))
    assert costlier[0] == "GROWING"
    assert "CPU per action rising" in costlier[1][-1]


def test_one_noisy_minute_does_not_decide() -> None:
    word, _ = soak.verdict(minutes([80, 84, 84, 84.1, 90, 84.2, 84.1, 84.2], [5] * 8, [30] * 8,
                                   [1000] * 8))  # fmt: skip
    assert word == "FLAT"
