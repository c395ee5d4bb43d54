-- A batch's raw rows, each carrying its series' previous sample as current_state holds it
-- before this batch folds in (migration 007; a new series' first sample carries NULLs).
-- By series: a slot's servers got consecutive series ids when first seen, so the column is a
-- run of constant steps (bit-packed to almost nothing) and each server's ts one run.
INSERT INTO sample_rows
SELECT b.cycle, b.ts, b.series, b.state_code, b.value_f, b.latency_f, b.detail_id,
       epoch_us(b.ts) - epoch_us(c.last_ts),
       CASE c.state WHEN 'ok' THEN 0 WHEN 'fail' THEN 1 WHEN 'unknown' THEN 2 END,
       c.failures, c.failed_since
FROM batch AS b
LEFT JOIN current_state AS c
  ON c.server = b.server AND c.check_name = b.check_name AND c.subject = b.subject
ORDER BY b.series;
