"""Reading what kvmtui sends a terminal in kitty's graphics protocol (tests only)."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

#: One message: ESC _ G keys [; payload] ESC backslash.
KITTY_MESSAGE = re.compile(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")


def kitty_messages(text: str) -> list[tuple[dict[str, str], str]]:
    """Each message's keys and payload, in order."""
    found = []
    for keys, payload in KITTY_MESSAGE.findall(text):
        fields = dict(pair.split("=", 1) for pair in keys.split(",") if pair)
        found.append((fields, payload))
    return found


def sent_pictures(text: str) -> list[str]:
    """The ids of the pictures transmitted (as PNG), in order."""
    ids: list[str] = []
    for keys, _ in kitty_messages(text):
        if keys.get("f") == "100" and keys["i"] not in ids:
            ids.append(keys["i"])
    return ids


def picture(text: str, picture_id: str) -> Image.Image:
    """The picture ``picture_id`` as sent: its chunks joined and decoded."""
    data = "".join(
        payload
        for keys, payload in kitty_messages(text)
        if keys.get("i") == picture_id and "a" not in keys
    )
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        return image.convert("RGB")
