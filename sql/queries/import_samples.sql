-- History import, step 1b on the 001 layout (a `samples` table keyed by three strings; the
-- prototype of sql/queries/compact_from_001.sql starts from it): append imp_new as it is. The
-- store's own layout (migration 003) takes imported samples through its write path instead
-- (Store.import_samples).
INSERT INTO samples (ts, cycle, server, check_name, subject, state, value, latency_ms, detail)
SELECT ts, cycle, server, check_name, subject, state::sample_state, value, latency_ms, detail
FROM imp_new;
