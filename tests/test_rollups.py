"""The compact sample layout and its rollups, against the raw samples they summarise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.monitor.sample import Sample
from console.store.compact import render, templatize
from console.store.database import Store

T0 = datetime(2026, 3, 1, 22, 50, tzinfo=UTC)
SERVERS = ["s1", "s2", "s3"]
CHECKS = ["server_online", "cpu", "camera"]
values = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1e10, allow_nan=False),
    st.sampled_from([0.0, 1.0, 27.35, 99.95, 5_452_595.2]),
)


@st.composite
def batches(draw: st.DrawFn) -> list[list[Sample]]:
    out = []
    minute = 0
    for _ in range(draw(st.integers(1, 6))):
        minute += draw(st.integers(1, 200))
        ts = T0 + timedelta(minutes=minute)
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(SERVERS), st.sampled_from(CHECKS), st.sampled_from("ab")),
                min_size=1,
                max_size=8,
                unique=True,
            )
        )
        batch = []
        seen = set()
        for server, check, cam in keys:
            subject = f"cam-{cam}" if check == "camera" else ""
            if (server, check, subject) in seen:
                continue  # one sample per (server, check, subject) in a batch, as the engine
            seen.add((server, check, subject))
            label = f"Gate 0{1 if cam == 'a' else 2}" if subject else ""
            value = draw(values)
            state = draw(st.sampled_from(["ok", "fail", "unknown"]))
            text = draw(
                st.sampled_from(
                    [
                        "CPU at {v:.1f}% over 5 s",
                        "{label}: online, recording",
                        "disk writing {m:.1f} MB/s over 5 s",
                        "online; Eocortex 4.1.23 answered in 3 ms",
                        "a {brace} that stays verbatim",
                    ]
                )
            )
            detail = (
                text.replace("{label}", label)
                .replace("{v:.1f}", f"{value or 0:.1f}")
                .replace("{m:.1f}", f"{(value or 0) / 1e6:.1f}")
            )
            batch.append(Sample(ts, server, check, subject, state, value, detail, label, 3.0))
        out.append(batch)
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(written=batches())
def test_rollups_equal_the_raw_samples_they_summarise(tmp_path_factory, written) -> None:
    path: Path = tmp_path_factory.mktemp("r") / "r.duckdb"
    with Store(path) as store:
        for n, batch in enumerate(written, 1):
            store.write_cycle(n, batch[0].ts, batch[0].ts, batch)
        for unit, table in (("hour", "rollup_hour"), ("day", "rollup_day")):
            raw = store.query(
                f"SELECT date_trunc('{unit}', ts) AS t, server, check_name, "
                "count(*) FILTER (WHERE state = 'ok') AS ok, "
                "count(*) FILTER (WHERE state = 'fail') AS fail, "
                "count(*) FILTER (WHERE state = 'unknown') AS unknown, "
                "count(value) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi "
                "FROM samples GROUP BY ALL ORDER BY ALL"
            ).to_pylist()
            rolled = store.query(
                f"SELECT {unit} AS t, server, check_name, ok, fail, unknown, value_n AS n, "
                f"value_sum AS total, value_min AS lo, value_max AS hi FROM {table} "
                "ORDER BY t, server, check_name"
            ).to_pylist()
            assert len(raw) == len(rolled)
            for a, b in zip(raw, rolled, strict=True):
                assert {
                    k: a[k] for k in ("t", "server", "check_name", "ok", "fail", "unknown", "n")
                } == {k: b[k] for k in ("t", "server", "check_name", "ok", "fail", "unknown", "n")}
                for k in ("total", "lo", "hi"):
                    assert (a[k] is None) == (b[k] is None)
                    if a[k] is not None:
                        assert abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k]))
        # the view gives back every sample as written: the same details, values rounded to
        # 0.01 and exact below 131,072; larger ones (disk bytes/s) keep 7 significant digits
        # (FLOAT, migration 006)
        stored = store.query(
            "SELECT cycle, server, check_name, subject, state::VARCHAR AS state, value, detail "
            "FROM samples ORDER BY cycle, server, check_name, subject"
        ).to_pylist()
        expected = sorted(
            (
                {
                    "cycle": n,
                    "server": s.server,
                    "check_name": s.check,
                    "subject": s.subject,
                    "state": s.state,
                    "value": None if s.value is None else round(s.value, 2),
                    "detail": s.detail,
                }
                for n, batch in enumerate(written, 1)
                for s in batch
            ),
            key=lambda r: (r["cycle"], r["server"], r["check_name"], r["subject"]),
        )
        kept = [r.pop("value") for r in stored]
        wanted = [r.pop("value") for r in expected]
        assert stored == expected
        for got, want in zip(kept, wanted, strict=True):
            if want is None or abs(want) < 131_072:
                assert got == want
            else:
                assert math.isclose(got, want, rel_tol=1e-7)


@given(
    value=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    latency=st.floats(min_value=0, max_value=1e5, allow_nan=False),
)
def test_a_template_renders_back_the_text_it_came_from(value: float, latency: float) -> None:
    value = round(value, 2)
    for text in (
        f"CPU at {value:.1f}% over 5 s (every sample above 98%)",
        f"disk writing {value / 1e6:.1f} MB/s over 5 s",
        f"online; Eocortex 4.1.23 answered in {latency:.0f} ms",
        f"no disk activity: {value:.0f} B/s written while cameras are set to record",
    ):
        template = templatize(text, value, latency, "")
        assert render(template, value, latency, "") == text


def test_the_writer_checks_templates_against_the_numbers_the_view_gives_back() -> None:
    """compact.stored() is the view's round(FLOAT::DOUBLE, n), halves and large values too."""
    import duckdb
    import pyarrow as pa

    from console.store.compact import as_float, stored

    values = [27.45, 12.35, 0.125, -2.5, 131_071.99, 62_849_999.97, 1e39, None, float("inf")]
    floats = as_float(values)
    con = duckdb.connect()
    con.register("f", pa.table({"i": list(range(len(values))), "v": floats}))
    for digits in (1, 2):
        rows = con.execute(f"SELECT round(v::DOUBLE, {digits}) FROM f ORDER BY i").fetchall()
        view = [r[0] for r in rows]
        assert stored(floats, digits) == view
    assert stored(floats, 2)[:2] == [27.45, 12.35]
