"""A modal list to pick one value (an installer, a customer, a past query), filtered as you type.

Dismisses with the chosen option's id, or None when the operator escapes.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from console.tui.screens.base import NlsModal

ALL = "\x00all"
"""The id of an "every value" entry, distinct from any real id and from a cancel (None)."""


class PickerScreen(NlsModal):
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 70; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    PickerScreen OptionList { height: auto; max-height: 16; border: none; }
    PickerScreen Label { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "focus_list", "List", show=False, id="picker.list"),
    ]

    def __init__(self, title: str, options: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(placeholder="type to filter", compact=True, id="picker-filter")
            yield OptionList(*self._matching(""), id="picker-list")

    def _matching(self, text: str) -> list[Option]:
        needle = text.strip().casefold()
        return [
            Option(label, id=key)
            for key, label in self.options
            if not needle or needle in label.casefold() or needle in key.casefold()
        ]

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._matching(event.value))
        if options.option_count:
            options.highlighted = 0

    @on(Input.Submitted, "#picker-filter")
    def _submit_first(self) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted or 0).id)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()
