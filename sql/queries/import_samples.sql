-- History import, step 1: the incoming samples (imp_in, already validated and deduplicated
-- within the file) that are not stored yet, appended to samples; imp_keys: the series touched.
CREATE TEMP TABLE imp_new AS
SELECT i.*
FROM imp_in AS i
ANTI JOIN samples AS s
  ON s.ts = i.ts AND s.server = i.server AND s.check_name = i.check_name
 AND s.subject = i.subject;

INSERT INTO samples (ts, cycle, server, check_name, subject, state, value, latency_ms, detail)
SELECT ts, cycle, server, check_name, subject, state::sample_state, value, latency_ms, detail
FROM imp_new;

CREATE TEMP TABLE imp_keys AS
SELECT DISTINCT server, check_name, subject FROM imp_new;
