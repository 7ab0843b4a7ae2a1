"""A migration's figures from recorded jobStats() readings, and the options' flags."""

from __future__ import annotations

import json
from pathlib import Path

import libvirt

from kvmtui.backend.migrate_figures import FigureLog, figures_of, phase_of
from kvmtui.backend.migrate_options import (
    EXPLAIN,
    CopyStorage,
    MigrationOptions,
    flags_of,
    params_of,
)

RECORDED = json.loads(
    (Path(__file__).parents[1] / "data" / "migration-jobstats.json").read_text()
)


def test_phases_follow_the_recorded_migration() -> None:
    phases = [phase_of(stats, False) for stats in RECORDED]
    assert phases[0] == "setting up"
    assert "copying memory (first pass)" in phases
    assert phases[-1] == "re-sending dirtied memory (pass 2)"
    assert phase_of({"type": libvirt.VIR_DOMAIN_JOB_NONE}, False) == "starting"
    assert phase_of(RECORDED[-1], True).startswith("post-copy")


def test_figures_count_what_is_left_and_the_history_skips_the_set_up() -> None:
    log = FigureLog()
    for stats in RECORDED:
        figures = log.add(stats)
    last = RECORDED[-1]
    assert figures.remaining == last["data_remaining"]
    assert figures.done == last["data_total"] - last["data_remaining"]
    assert figures.dirty_rate == last["memory_dirty_rate"] * last["memory_page_size"]
    assert figures.eta_s == last["data_remaining"] / last["memory_bps"]
    assert 0 not in figures.remaining_history
    assert len(figures.remaining_history) == sum(1 for s in RECORDED if s["data_total"])
    assert list(figures.remaining_history) == sorted(figures.remaining_history, reverse=True)


def test_libvirts_own_time_left_wins() -> None:
    figures = figures_of({**RECORDED[5], "time_remaining": 2500})
    assert figures.eta_s == 2.5


def test_default_options_are_a_live_persistent_move() -> None:
    flags = flags_of(MigrationOptions())
    expected = (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    )
    assert flags == expected
    assert params_of(MigrationOptions()) == {}


def test_each_option_sets_its_flag() -> None:
    options = MigrationOptions(
        live=False, copy_storage=CopyStorage.INCREMENTAL, tunnelled=True, bandwidth_mib_s=5
    )
    flags = flags_of(options)
    assert flags & libvirt.VIR_MIGRATE_OFFLINE and not flags & libvirt.VIR_MIGRATE_LIVE
    assert flags & libvirt.VIR_MIGRATE_NON_SHARED_INC
    assert flags & libvirt.VIR_MIGRATE_PEER2PEER and flags & libvirt.VIR_MIGRATE_TUNNELLED
    assert params_of(options) == {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 5}


def test_every_option_has_one_line_of_explanation() -> None:
    names = set(MigrationOptions.__dataclass_fields__)
    assert names == set(EXPLAIN)
    assert all("\n" not in text and text.endswith(".") for text in EXPLAIN.values())
