"""What snapshots wait for before the picture (conftest.py's ``snap_compare``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets._footer import FooterKey

from kvmtui.tui.widgets.footer import Footer
from tests.pilot import footer_settled, run_async, wait_for


class OneKey(App[None]):
    """A footer with one key that ``enabled`` dims or not."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "act", "Act")]
    enabled = False

    def compose(self) -> ComposeResult:
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "act" and not self.enabled else True

    def action_act(self) -> None:
        pass


def act_key(app: App[None]) -> FooterKey:
    return next(k for k in app.screen.query(FooterKey) if k.key == "a")


@run_async
async def test_the_footer_is_settled_only_once_it_shows_what_the_bindings_say() -> None:
    app = OneKey()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: footer_settled(app.screen), "the first keys")
        assert act_key(app).has_class("-disabled")

        app.enabled = True
        app.refresh_bindings()
        # Textual recomposes the footer after the next refresh: not yet.
        assert not footer_settled(app.screen)
        assert act_key(app).has_class("-disabled")
        await wait_for(pilot, lambda: footer_settled(app.screen), "the key enabled")
        assert not act_key(app).has_class("-disabled")
