"""The path and number questions' own checks (screens/path_prompt.py): a file that cannot
be written and a number that is not whole are refused in the question, in one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmtui.screens.path_prompt import count_refusal, file_refusal


def test_a_new_or_existing_file_in_a_folder_is_taken(tmp_path: Path) -> None:
    assert file_refusal(str(tmp_path / "new.log")) is None
    existing = tmp_path / "old.log"
    existing.write_text("x")
    assert file_refusal(str(existing)) is None


def test_a_folder_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    assert file_refusal(str(tmp_path)) == f"{tmp_path} is a folder; name a file in it."
    missing = tmp_path / "gone" / "x.log"
    assert file_refusal(str(missing)) == f"The folder {missing.parent} does not exist."


@pytest.mark.parametrize("text", ["0", "100", " 42 "])
def test_whole_numbers_are_taken(text: str) -> None:
    assert count_refusal(text) is None


@pytest.mark.parametrize("text", ["-1", "1.5", "ten", "", "²"])
def test_anything_else_is_refused(text: str) -> None:
    assert count_refusal(text) == f"'{text.strip()}' is not a whole number (0 or more)."
