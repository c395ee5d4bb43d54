"""FleetGrid: a virtualised fleet table on Textual's Line API.

Only visible lines are ever rendered, each from a cached Strip keyed by the row's serial, so a
10,000-row fleet costs the same to paint as a 30-row one, and live updates repaint only the
visible rows that changed (see Toolong's LogLines and the Line API guide for the technique).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.color import Color
from textual.css.styles import RenderStyles
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.desk.text import live_state
from console.fleetview import FleetCounts, ServerRow
from console.tui.gridmodel import (
    COLUMNS,
    MISSING,
    Column,
    GridFilter,
    GridModel,
    format_age,
    format_incident,
    layout_columns,
    utc_now,
)

Clock = Callable[[], datetime]
CPU_HOT = 90.0
AVAILABILITY_LOW = 0.99


def _fit(text: str, width: int, align: str) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells, marking a cut with an ellipsis."""
    length = len(text) if text.isascii() else cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else text[:width]
    pad = " " * (width - length)
    return pad + text if align == "right" else text + pad


def _blend(styles: RenderStyles, background: Color) -> Style:
    """A component's colours composed over the real background: `get_component_rich_style`
    leaves translucent and "auto" colours (e.g. $text-muted) unblended, which turns them
    invisible on light themes."""
    if styles.has_rule("background"):
        background = background + styles.background
    color: Color | None = None
    if styles.has_rule("color"):
        color = styles.color
        if styles.auto_color:
            color = background.get_contrast_text(color.a)
        color = background + color
    return (
        Style.from_color(
            color.rich_color if color is not None else None,
            background.rich_color if styles.has_rule("background") else None,
        )
        + styles.text_style
    )


@dataclass(frozen=True, slots=True)
class _Palette:
    """Rich styles resolved from CSS once per theme and focus state, not once per cell."""

    base: Style
    header: Style
    header_sorted: Style
    cursor: Style
    muted: Style
    warning: Style
    status: dict[str, Style]


class FleetGrid(ScrollView, can_focus=True):
    """One line per server, sortable by any column, filtered by a `GridFilter`.

    Feed it with `load()` (a snapshot) and `apply_updates()` (live deltas); it posts
    `RowHighlighted` when the cursor lands on another server, `RowSelected` on enter or on a
    click of the cursor row, and `ViewChanged` when counts, filter or sort change.
    """

    COMPONENT_CLASSES = {
        "fleetgrid--header",
        "fleetgrid--header-sorted",
        "fleetgrid--cursor",
        "fleetgrid--muted",
        "fleetgrid--warning",
        "fleetgrid--up",
        "fleetgrid--pending",
        "fleetgrid--problem",
        "fleetgrid--down",
        "fleetgrid--quiet",
        "fleetgrid--maintenance",
        "fleetgrid--unknown",
    }

    DEFAULT_CSS = """
    FleetGrid {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        & > .fleetgrid--header { background: $panel; color: $foreground; text-style: bold; }
        & > .fleetgrid--header-sorted { color: $text-accent; text-style: bold underline; }
        & > .fleetgrid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .fleetgrid--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .fleetgrid--muted { color: $text-muted; }
        & > .fleetgrid--warning { color: $text-warning; }
        & > .fleetgrid--up { color: $text-success; }
        & > .fleetgrid--pending { color: $text-warning; }
        & > .fleetgrid--problem { color: $text-warning; text-style: bold; }
        & > .fleetgrid--down { color: $text-error; text-style: bold; }
        & > .fleetgrid--quiet { color: $text-muted; }
        & > .fleetgrid--maintenance { color: $text-primary; }
        & > .fleetgrid--unknown { color: $text-muted; text-style: italic; }
        &:light > .fleetgrid--header-sorted { color: $foreground; }
        &:light > .fleetgrid--warning { color: auto 90%; background: $warning 35%; }
        &:light > .fleetgrid--problem { color: auto 90%; background: $warning 35%; }
        &:light > .fleetgrid--pending { color: auto 90%; background: $warning 15%; }
        &:light > .fleetgrid--up { color: $success-darken-3; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="fleetgrid.cursor_up"),
        Binding("down", "cursor_down", "Down", show=False, id="fleetgrid.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="fleetgrid.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="fleetgrid.page_down"),
        Binding("home", "first", "First server", show=False, id="fleetgrid.first"),
        Binding("end", "last", "Last server", show=False, id="fleetgrid.last"),
        Binding("enter", "select", "Open", id="fleetgrid.select", tooltip="Open server detail"),
        Binding(
            "s", "cycle_sort", "Sort", id="fleetgrid.cycle_sort", tooltip="Sort by next column"
        ),
        Binding(
            "S",
            "reverse_sort",
            "Reverse",
            id="fleetgrid.reverse_sort",
            tooltip="Reverse the sort direction",
        ),
    ]

    class RowHighlighted(Message):
        """The cursor now rests on another server (None when nothing is visible)."""

        def __init__(self, grid: FleetGrid, server_id: str | None, position: int) -> None:
            super().__init__()
            self.grid = grid
            self.server_id = server_id
            self.position = position

        @property
        def control(self) -> FleetGrid:
            return self.grid

    class RowSelected(Message):
        """The operator chose a server (enter, or a click on the cursor row)."""

        def __init__(self, grid: FleetGrid, server_id: str, position: int) -> None:
            super().__init__()
            self.grid = grid
            self.server_id = server_id
            self.position = position

        @property
        def control(self) -> FleetGrid:
            return self.grid

    class ViewChanged(Message):
        """Counts, visible rows, filter or sort changed: what a header needs to redraw."""

        def __init__(self, grid: FleetGrid) -> None:
            super().__init__()
            self.grid = grid
            self.counts: FleetCounts = grid.model.counts
            self.visible = len(grid.model)
            self.total = grid.model.total
            self.filter: GridFilter = grid.model.filter
            self.sort_key = grid.model.sort_key
            self.descending = grid.model.descending

        @property
        def control(self) -> FleetGrid:
            return self.grid

    def __init__(
        self,
        rows: Iterable[ServerRow] = (),
        *,
        clock: Clock = utc_now,
        sort_key: str = "status",
        descending: bool = False,
        filter: GridFilter | None = None,
        columns: Sequence[Column] = COLUMNS,
        age_refresh: float | None = 5.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._model = GridModel(rows, sort_key=sort_key, descending=descending, filter=filter)
        self._clock = clock
        self._columns = tuple(columns)
        self._age_refresh = age_refresh
        self._now = clock()
        self._cursor = 0
        self._cursor_id: str | None = self._model.id_at(0) if len(self._model) else None
        self._strips: LRUCache[tuple[object, ...], Strip] = LRUCache(1024)
        self._columns_fit: tuple[int, list[tuple[Column, int]]] | None = None
        self._palette_key: tuple[object, ...] | None = None
        self._palette: _Palette | None = None
        self._last_view: tuple[object, ...] | None = None
        self.lines_rendered = 0
        """`render_line` calls so far: lets tests and the benchmark prove repaints are partial."""

    @property
    def model(self) -> GridModel:
        return self._model

    @property
    def cursor_position(self) -> int:
        return self._cursor

    @property
    def cursor_server_id(self) -> str | None:
        return self._cursor_id

    @property
    def filter(self) -> GridFilter:
        return self._model.filter

    def on_mount(self) -> None:
        self._sync_virtual_size()
        self._post_view_changed()
        if self._cursor_id is not None:
            self.post_message(self.RowHighlighted(self, self._cursor_id, self._cursor))
        if self._age_refresh and any(c.key == "age" for c in self._columns):
            self.set_interval(self._age_refresh, self._refresh_ages)

    def load(self, rows: Iterable[ServerRow]) -> None:
        """Replace every row with a fresh snapshot, keeping the cursor's server if it remains."""
        self._model.load(rows)
        self._strips.clear()
        self._restructured()

    def apply_updates(self, rows: Iterable[ServerRow]) -> list[int]:
        """Merge live rows; repaints only the visible lines that changed. Returns the changed
        visible positions (as the model reports them)."""
        before = len(self._model)
        old_cursor = self._cursor
        changed = self._model.apply_updates(rows)
        if not changed:
            self._post_view_changed()
            return changed
        if len(self._model) != before:
            self._sync_virtual_size()
        scrolled = self._relocate_cursor()
        if not scrolled:
            moved = (old_cursor, self._cursor) if old_cursor != self._cursor else ()
            self._refresh_positions([*self._visible_slice(changed), *moved])
        self._post_view_changed()
        return changed

    def set_filter(self, new: GridFilter) -> None:
        if self._model.set_filter(new):
            self._restructured()

    def search(self, text: str) -> None:
        """Free-text filter over server, customer and installer names and ids."""
        self.set_filter(self._model.filter.with_text(text))

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort and show the top of the list: keeping the cursor's server in view would land
        somewhere in the middle, where a sorted list looks unsorted."""
        self._model.sort(key, descending)
        self._restructured()
        self._move_cursor(0)

    def select_server(self, server_id: str) -> bool:
        """Put the cursor on a server; False if it is not visible under the current filter."""
        position = self._model.position(server_id)
        if position is None:
            return False
        self._move_cursor(position)
        return True

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self._move_cursor(self._cursor - self._page_height())

    def action_page_down(self) -> None:
        self._move_cursor(self._cursor + self._page_height())

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(len(self._model) - 1)

    def action_select(self) -> None:
        if self._cursor_id is not None:
            self.post_message(self.RowSelected(self, self._cursor_id, self._cursor))

    def action_cycle_sort(self) -> None:
        keys = [column.key for column, _ in self._layout()[1]] or [c.key for c in self._columns]
        current = self._model.sort_key
        following = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        self.sort_by(following)

    def action_reverse_sort(self) -> None:
        self.sort_by(self._model.sort_key, not self._model.descending)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is None:
                return
            if column.key == self._model.sort_key:
                self.action_reverse_sort()
            else:
                self.sort_by(column.key)
            return
        position = int(self.scroll_offset.y) + offset.y - 1
        if position >= len(self._model):
            return
        if position == self._cursor:
            self.action_select()
        else:
            self._move_cursor(position)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._palette = None
        self._strips.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._now = self._clock()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        self.lines_rendered += 1
        width, layout = self._layout()
        palette = self._resolve_palette()
        if y == 0:
            return self._header_strip(width, layout, palette)
        position = int(self.scroll_offset.y) + y - 1
        if position >= len(self._model):
            if y == 1 and not len(self._model):
                text = f" No servers match: {self._model.filter.describe()}"
                return Strip([Segment(_fit(text, width, "left"), palette.muted)], width)
            return Strip.blank(width, palette.base)
        return self._row_strip(position, width, layout, palette)

    def _row_strip(
        self, position: int, width: int, layout: list[tuple[Column, int]], palette: _Palette
    ) -> Strip:
        model = self._model
        sid = model.id_at(position)
        row = model.get(sid)
        assert row is not None
        is_cursor = position == self._cursor
        age = format_age(row.last_check, self._now)
        if row.incident is not None:  # its countdown moves too
            age += "\0" + format_incident(row, self._now)
        key = (sid, model.serial(sid), age, width, is_cursor, self._palette_key)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        segments: list[Segment] = []
        gap = Segment(" ", palette.cursor if is_cursor else palette.base)
        for index, (column, cells) in enumerate(layout):
            if index:
                segments.append(gap)
            text = column.text(row, self._now)
            style = palette.cursor if is_cursor else self._cell_style(column, row, text, palette)
            segments.append(Segment(_fit(text, cells, column.align), style))
        strip = Strip(segments).extend_cell_length(width, gap.style)
        self._strips[key] = strip
        return strip

    def _cell_style(self, column: Column, row: ServerRow, text: str, palette: _Palette) -> Style:
        key = column.key
        if key == "status":
            return palette.status.get(row.status, palette.base)
        if text == MISSING or text == "n/a":
            return palette.muted
        if key == "failing":
            return palette.status.get(row.status, palette.base)
        if key == "incident" and row.incident is not None:
            state = live_state(row.incident.timer, self._now)
            if state in ("breached", "urgent"):
                return palette.status.get("down", palette.base)
            return palette.warning if state == "at_risk" else palette.base
        if key == "cpu" and row.cpu_pct is not None and row.cpu_pct >= CPU_HOT:
            return palette.warning
        if key == "availability":
            low = row.availability_30d is not None and row.availability_30d < AVAILABILITY_LOW
            return palette.warning if low else palette.muted if text[0] == "~" else palette.base
        return palette.base

    def _header_strip(
        self, width: int, layout: list[tuple[Column, int]], palette: _Palette
    ) -> Strip:
        key = ("header", width, self._model.sort_key, self._model.descending, self._palette_key)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        gap = Segment(" ", palette.header)
        segments: list[Segment] = []
        for index, (column, cells) in enumerate(layout):
            if index:
                segments.append(gap)
            if column.key == self._model.sort_key:
                arrow = "▼" if self._model.descending else "▲"
                title = _fit(column.title, max(1, cells - 1), "left").rstrip() + arrow
                segments.append(Segment(_fit(title, cells, column.align), palette.header_sorted))
            else:
                segments.append(Segment(_fit(column.title, cells, column.align), palette.header))
        strip = Strip(segments).extend_cell_length(width, palette.header)
        self._strips[key] = strip
        return strip

    def _resolve_palette(self) -> _Palette:
        key = (self.app.theme, self.has_focus)
        if self._palette is not None and key == self._palette_key:
            return self._palette
        base = self.rich_style
        background = self.background_colors[1]

        def part(name: str, under: Color = background) -> Style:
            return base + _blend(self.get_component_styles(name), under)

        header_styles = self.get_component_styles("fleetgrid--header")
        header = base + _blend(header_styles, background)
        header_background = background + header_styles.background
        self._palette = _Palette(
            base=base,
            header=header,
            header_sorted=header + part("fleetgrid--header-sorted", header_background),
            cursor=part("fleetgrid--cursor"),
            muted=part("fleetgrid--muted"),
            warning=part("fleetgrid--warning"),
            status={
                status: part(f"fleetgrid--{status}")
                for status in (
                    "up",
                    "pending",
                    "problem",
                    "down",
                    "quiet",
                    "maintenance",
                    "unknown",
                )
            },
        )
        self._palette_key = key
        return self._palette

    def _layout(self) -> tuple[int, list[tuple[Column, int]]]:
        width = self.scrollable_content_region.width
        if self._columns_fit is None or self._columns_fit[0] != width:
            self._columns_fit = (width, layout_columns(width, self._columns))
        return self._columns_fit

    def _column_at(self, x: int) -> Column | None:
        start = 0
        for column, cells in self._layout()[1]:
            if start <= x < start + cells + 1:
                return column
            start += cells + 1
        return None

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _sync_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._model) + 1)

    def _visible_slice(self, positions: list[int]) -> list[int]:
        top = int(self.scroll_offset.y)
        start = bisect_left(positions, top)
        end = bisect_left(positions, top + self._page_height())
        return positions[start:end]

    def _refresh_positions(self, positions: Iterable[int]) -> None:
        """Repaint just these rows, merging neighbours into one region each."""
        top = int(self.scroll_offset.y)
        page = self._page_height()
        ys = sorted({p - top + 1 for p in positions if top <= p < top + page})
        if not ys:
            return
        width = self.scrollable_content_region.width
        regions: list[Region] = []
        start = previous = ys[0]
        for y in ys[1:]:
            if y != previous + 1:
                regions.append(Region(0, start, width, previous - start + 1))
                start = y
            previous = y
        regions.append(Region(0, start, width, previous - start + 1))
        self.refresh(*regions)

    def _move_cursor(self, position: int) -> None:
        count = len(self._model)
        if not count:
            return
        position = max(0, min(count - 1, position))
        old = self._cursor
        self._cursor = position
        self._cursor_id = self._model.id_at(position)
        if not self._scroll_to_cursor():
            self._refresh_positions((old, position))
        if position != old:
            self.post_message(self.RowHighlighted(self, self._cursor_id, position))

    def _relocate_cursor(self) -> bool:
        """Keep the cursor on its server after rows moved; returns whether the view scrolled.

        If the server left the view, the cursor stays at the same position (clamped) and the
        new server there is announced.
        """
        count = len(self._model)
        previous_id = self._cursor_id
        position = self._model.position(previous_id) if previous_id is not None else None
        if position is None:
            position = max(0, min(count - 1, self._cursor))
        self._cursor = position
        self._cursor_id = self._model.id_at(position) if count else None
        if self._cursor_id != previous_id:
            self.post_message(self.RowHighlighted(self, self._cursor_id, position))
        return self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> bool:
        top = int(self.scroll_offset.y)
        page = self._page_height()
        target: int | None = None
        if self._cursor < top:
            target = self._cursor
        elif self._cursor >= top + page:
            target = self._cursor - page + 1
        if target is None:
            return False
        self.scroll_to(y=target, animate=False, immediate=True)
        return int(self.scroll_offset.y) != top

    def _restructured(self) -> None:
        """After a filter, sort or load: new size, cursor on the same server, full repaint."""
        self._sync_virtual_size()
        self._relocate_cursor()
        self.refresh()
        self._post_view_changed()

    def _refresh_ages(self) -> None:
        self.refresh()

    def _post_view_changed(self) -> None:
        model = self._model
        view = (model.counts, len(model), model.filter, model.sort_key, model.descending)
        if view != self._last_view:
            self._last_view = view
            self.post_message(self.ViewChanged(self))

    def on_resize(self, event: events.Resize) -> None:
        self._sync_virtual_size()
        self._scroll_to_cursor()


__all__ = ["FleetGrid"]
