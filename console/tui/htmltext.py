"""A mail's HTML body as plain text, to read in a terminal what the recipient's mail client shows.

Covers what nls's own mails use (paragraphs, line breaks, lists, tables); anything else is read
for its text. A table with a header row becomes one block per data row ("Header: value" lines),
which stays readable in 80 columns where a wide grid would not; a table without one becomes
aligned "key  value" lines.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"head", "title", "style", "script"})
_BLOCK = frozenset({"p", "div", "h1", "h2", "h3", "h4", "ul", "ol", "table"})
_SPACE = re.compile(r"\s+")


class _Cell:
    def __init__(self, header: bool) -> None:
        self.header = header
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        lines = (_SPACE.sub(" ", part).strip() for part in "".join(self.parts).split("\n"))
        return " / ".join(line for line in lines if line)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.rows: list[list[_Cell]] | None = None
        self.cell: _Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "table":
            self._block()
            self.rows = []
        elif tag == "tr" and self.rows is not None:
            self.rows.append([])
        elif tag in ("td", "th") and self.rows is not None:
            if not self.rows:
                self.rows.append([])
            self.cell = _Cell(tag == "th")
            self.rows[-1].append(self.cell)
        elif tag == "br":
            self._text("\n")
        elif tag == "li":
            self._newline()
            self._text("- ")
        elif tag in _BLOCK:
            self._block()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in ("td", "th"):
            self.cell = None
        elif tag == "table" and self.rows is not None:
            rows, self.rows = self.rows, None
            self.out.append(_table([[c.text for c in row] for row in rows if row], rows))
            self._block()
        elif tag in _BLOCK or tag == "li":
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.rows is not None:
            if self.cell is not None:
                self.cell.parts.append(data)
            return
        self._text(_SPACE.sub(" ", data))

    def _text(self, text: str) -> None:
        if self.cell is not None:
            self.cell.parts.append(text)
        elif self.rows is None:
            self.out.append(text)

    def _newline(self) -> None:
        if self.rows is None and self.out and not "".join(self.out[-2:]).endswith("\n"):
            self.out.append("\n")

    def _block(self) -> None:
        if self.rows is None and self.out:
            self.out.append("\n\n")


def _table(cells: list[list[str]], rows: list[list[_Cell]]) -> str:
    if not cells:
        return ""
    headed = len(rows) > 1 and len(rows[0]) > 1 and all(c.header for c in rows[0])
    if headed:
        titles = cells[0]
        blocks = [
            "\n".join(f"{title}: {value}" for title, value in zip(titles, row, strict=False))
            for row in cells[1:]
        ]
        return "\n\n".join(blocks)
    width = max(len(row[0]) for row in cells)
    return "\n".join(
        f"{row[0]:<{width}}  {'  '.join(row[1:])}".rstrip() if len(row) > 1 else row[0]
        for row in cells
    )


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document (entities decoded, whitespace collapsed)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    text = "".join(reader.out)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
