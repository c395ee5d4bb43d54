"""The compact raw-sample layout: a few bytes per sample instead of a few dozen.

A sample is stored as (cycle, ts, series, state, value, latency_ms, detail) where `series` is
the id of its (server, check, subject) in the `series` table and `detail` the id of a detail
*template*: the detail text with the sample's own numbers and its camera's name replaced by
placeholders, so "Entrance 01: online, recording" and "CPU at 27.4% over 5 s" become
"{label}: online, recording" and "CPU at {v1}% over 5 s", the same few texts for the whole
fleet every cycle. A template that is the usual one for its check and state is stored as NULL.
The `samples` view (sql/migrations/003) renders the text back; the writer checks each template
renders exactly the original text, and keeps the text verbatim otherwise.

Values are kept to 0.01 and latencies to 0.1 ms (what no screen or report shows finer), as
4-byte floats (migration 006): the view reads them back through `stored()`'s rounding, so a
template is checked against the number the view will render, not the one the probe wrote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

STATE_CODES = {"ok": 0, "fail": 1, "unknown": 2}
STATES = ("ok", "fail", "unknown")

# Placeholders, longest text first when several could match the same number.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]*\d)")


def round_value(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return value
    return round(value, 2)


def as_float(values: Sequence[float | None]) -> pa.Array:
    """The FLOAT column `sample_rows` keeps (out of range becomes infinity, never an error)."""
    return pa.array(values, pa.float64()).cast(pa.float32())


def stored(floats: pa.Array, digits: int) -> list[float | None]:
    """What the `samples` view reads back of a FLOAT column: the float's double rounded as the
    view rounds it, DuckDB's round(x::DOUBLE, n) = round(x * 10^n) / 10^n with halves away from
    zero (Arrow's half_towards_infinity; Python's round() takes halves to even). The value itself
    for every value below 131,072 at 0.01; larger ones (disk bytes/s) keep 7 digits."""
    doubles = floats.cast(pa.float64())
    return pc.round(doubles, digits, round_mode="half_towards_infinity").to_pylist()


def _formats(value: float | None, latency: float | None) -> list[tuple[str, str]]:
    """(placeholder, text) pairs a number in a detail may be written as."""
    out: list[tuple[str, str]] = []
    if value is not None and math.isfinite(value):
        out += [
            ("{v1}", f"{value:.1f}"),
            ("{v0}", f"{value:.0f}"),
            ("{vk}", f"{value / 1e3:.1f}"),
            ("{vM}", f"{value / 1e6:.1f}"),
            ("{vG}", f"{value / 1e9:.1f}"),
        ]
    if latency is not None and math.isfinite(latency):
        out += [("{l0}", f"{latency:.0f}")]
    return out


def render(template: str, value: float | None, latency: float | None, label: str) -> str:
    """The text a template stands for (the view does the same in SQL: `RENDER_SQL`)."""
    text = template
    if "{label}" in text:
        text = text.replace("{label}", label)
    if "{" in text:
        for placeholder, number in _formats(value, latency):
            if placeholder in text:
                text = text.replace(placeholder, number)
    return text


def templatize(detail: str, value: float | None, latency: float | None, label: str) -> str:
    """The detail with its label and its value's numbers replaced by placeholders, or the text
    itself when the template would not render back to exactly the same text."""
    if "{" in detail:
        return detail  # a brace could be read as a placeholder: keep such text verbatim
    template = detail
    if label and label in template:
        template = template.replace(label, "{label}")
    formats = _formats(value, latency)
    if formats:

        def swap(match: re.Match[str]) -> str:
            token = match.group(0)
            for placeholder, number in formats:
                if number == token:
                    return placeholder
            return token

        template = _NUMBER.sub(swap, template)
    if template != detail and render(template, value, latency, label) != detail:
        return detail
    return template


class TemplateCache:
    """templatize() remembered per (detail, value, latency, label): a fleet's camera details
    repeat across servers and cycles, so most samples cost a dictionary lookup."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._cache: dict[tuple[str, float | None, float | None, str], str] = {}

    def __call__(self, detail: str, value: float | None, latency: float | None, label: str) -> str:
        key = (detail, value, latency, label)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            found = self._cache[key] = templatize(detail, value, latency, label)
        return found

    def many(
        self,
        details: Sequence[str],
        values: Sequence[float | None],
        latencies: Sequence[float | None],
        labels: Sequence[str],
    ) -> list[str]:
        """Templates of a batch, column at a time: one dict lookup per sample, templatize()
        only for the misses."""
        keys = list(zip(details, values, latencies, labels, strict=True))
        found: list[str | None] = list(map(self._cache.get, keys))
        if None in found:
            for i, template in enumerate(found):
                if template is None:
                    found[i] = self(*keys[i])
        return cast("list[str]", found)


def render_sql(template: str, value: str, latency: str, label: str) -> str:
    """SQL for render(): nested replace() over printf, as the `samples` view uses it."""
    sql = f"replace({template}, '{{label}}', coalesce({label}, ''))"
    for placeholder, expr in (
        ("{v1}", f"printf('%.1f', {value})"),
        ("{v0}", f"printf('%.0f', {value})"),
        ("{vk}", f"printf('%.1f', {value} / 1e3)"),
        ("{vM}", f"printf('%.1f', {value} / 1e6)"),
        ("{vG}", f"printf('%.1f', {value} / 1e9)"),
        ("{l0}", f"printf('%.0f', {latency})"),
    ):
        sql = f"replace({sql}, '{placeholder}', coalesce({expr}, '{placeholder}'))"
    return sql


Templatizer = Callable[[str, float | None, float | None, str], str]
