"""Textual's Footer without what it leaves behind each time it recomposes.

Whenever a screen's bindings change (a guest event, a cursor move), Textual's Footer
throws its keys away and composes new ones. Two things outlived the old keys:

- each ``FooterKey`` binds to the footer's ``compact`` reactive with ``data_bind``; the
  binding is kept on the footer as ``(key, callback)`` and dropped only when ``compact``
  changes, which never happens here, so every key ever shown stayed alive with its
  styles and caches, about 20 per pause/resume of a guest (Textualize/textual issue 6666);
- ``StylesCache.get_inner_outer`` is an ``lru_cache`` on a method: it keeps the style
  caches (rendered strips included) of the last 1024 widgets drawn, long after they are
  gone, so memory rose with every key composed until that bound.

This footer drops the bindings of keys that are gone and that cache after a recompose.
"""

from __future__ import annotations

from textual._styles_cache import StylesCache
from textual.widgets import Footer as TextualFooter  # noqa: TID251 (the one place)

#: Where Textual keeps the watchers of a reactive object (``textual.reactive``).
_WATCHERS = "__watchers"


def drop_render_caches() -> None:
    """Forget the style caches Textual keeps for widgets drawn lately (cheap to refill)."""
    StylesCache.get_inner_outer.cache_clear()


class Footer(TextualFooter):
    """The key footer; use it instead of ``textual.widgets.Footer``."""

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        # Recomposed on every bindings change, as Textual's own: skipping the unchanged
        # ones (tried) also skipped the screen refresh that follows, and a table's
        # column widened on idle was then drawn at its old width until the next repaint.
        await super().recompose()
        watchers: dict[str, list[tuple[object, object]]] = getattr(self, _WATCHERS, {})
        for entries in watchers.values():
            entries[:] = [
                (node, callback)
                for node, callback in entries
                if getattr(node, "is_attached", True) and not getattr(node, "_closing", False)
            ]
        drop_render_caches()

    def on_unmount(self) -> None:
        super().on_unmount()
        drop_render_caches()
