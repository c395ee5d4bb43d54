-- nls store, version 6: raw values and latencies as 4-byte floats.
--
-- A raw sample's value (kept to 0.01) and latency (to 0.1 ms) need 7 significant digits, not
-- 16: FLOAT halves what DuckDB's compression stores per run of values (bench/bench_store_write
-- .py's fleet: 1.86 -> 1.24 bytes per raw sample). The `samples` view rounds them back to 0.01
-- and 0.1 (console/store/database.py), which gives every value below 131,072 exactly as it was
-- written; larger ones (disk bytes/s) keep 7 significant digits. Rollups, current_state and
-- alert decisions use the written doubles, never these.

-- The view's rendering of a detail template (console/store/compact.py render_sql).
CREATE TEMP MACRO m006_render(t, v, l, lab) AS
    replace(replace(replace(replace(replace(replace(replace(t,
        '{label}', coalesce(lab, '')),
        '{v1}', coalesce(printf('%.1f', v), '{v1}')),
        '{v0}', coalesce(printf('%.0f', v), '{v0}')),
        '{vk}', coalesce(printf('%.1f', v / 1e3), '{vk}')),
        '{vM}', coalesce(printf('%.1f', v / 1e6), '{vM}')),
        '{vG}', coalesce(printf('%.1f', v / 1e9), '{vG}')),
        '{l0}', coalesce(printf('%.0f', l), '{l0}'));

-- FLOAT as the writer makes it (console/store/compact.py as_float): out of range is infinity.
CREATE TEMP MACRO m006_float(x) AS
    CASE WHEN isfinite(x) AND abs(x) > 3.4028234663852886e38 THEN sign(x) * 'inf'::FLOAT
         ELSE x::FLOAT END;

-- Rows whose detail would read differently from the rounded FLOAT (large values near a digit's
-- boundary) keep the text they had, as a verbatim template of their own.
CREATE TEMP TABLE m006_changed AS
SELECT rid, old_text
FROM (
    SELECT r.rowid AS rid,
           m006_render(d.template, r.value, r.latency_ms, s.label) AS old_text,
           m006_render(d.template, round(m006_float(r.value)::DOUBLE, 2),
                       round(m006_float(r.latency_ms)::DOUBLE, 1), s.label) AS new_text
    FROM sample_rows AS r
    JOIN series AS s ON s.id = r.series
    LEFT JOIN detail_defaults AS dd ON dd.check_name = s.check_name AND dd.state = r.state
    JOIN details AS d ON d.id = coalesce(r.detail, dd.detail)
    WHERE d.template LIKE '%{v_}%' OR d.template LIKE '%{l0}%'
)
WHERE old_text IS DISTINCT FROM new_text;

CREATE TEMP TABLE m006_texts AS
SELECT (SELECT coalesce(max(id), 0) FROM details) + row_number() OVER (ORDER BY old_text) AS id,
       old_text
FROM (SELECT DISTINCT old_text FROM m006_changed);

INSERT INTO details SELECT id, old_text FROM m006_texts;

UPDATE sample_rows
SET detail = t.id
FROM m006_changed AS c JOIN m006_texts AS t USING (old_text)
WHERE sample_rows.rowid = c.rid;

-- The same conversion written out with built-in functions only: DuckDB replays an ALTER from
-- the write-ahead log by its expression, and this script's temporary macros are gone by then.
ALTER TABLE sample_rows ALTER value TYPE FLOAT USING
    CASE WHEN isfinite(value) AND abs(value) > 3.4028234663852886e38
         THEN sign(value) * 'inf'::FLOAT ELSE value::FLOAT END;
ALTER TABLE sample_rows ALTER latency_ms TYPE FLOAT USING
    CASE WHEN isfinite(latency_ms) AND abs(latency_ms) > 3.4028234663852886e38
         THEN sign(latency_ms) * 'inf'::FLOAT ELSE latency_ms::FLOAT END;

DROP TABLE m006_changed;
DROP TABLE m006_texts;
DROP MACRO m006_float;
DROP MACRO m006_render;
