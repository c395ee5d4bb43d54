-- nls store, version 6: raw values and latencies as 4-byte floats.
--
-- A raw sample's value (kept to 0.01) and latency (to 0.1 ms) need 7 significant digits, not
-- 16: FLOAT halves what DuckDB's compression stores per run of values, 1.86 -> 1.24 bytes per
-- raw sample on bench/bench_store_write.py's fleet. The `samples` view rounds them back to
-- 0.01 and 0.1 (console/store/database.py), which gives every value below 131,072 exactly as
-- it was written; larger ones (disk bytes/s) keep 7 digits. Rollups, current_state and alert
-- decisions use the written doubles, never these.
ALTER TABLE sample_rows ALTER value TYPE FLOAT;
ALTER TABLE sample_rows ALTER latency_ms TYPE FLOAT;
