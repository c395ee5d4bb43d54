-- History import, step 1: the incoming samples (imp_in, already validated and deduplicated
-- within the file) that are not stored yet (raw or archived: the `samples` view reads both);
-- imp_keys: the series they touch. The caller appends imp_new to the samples (the store's
-- write path) in the same transaction.
CREATE TEMP TABLE imp_new AS
SELECT i.*
FROM imp_in AS i
ANTI JOIN samples AS s
  ON s.ts = i.ts AND s.server = i.server AND s.check_name = i.check_name
 AND s.subject = i.subject;

CREATE TEMP TABLE imp_keys AS
SELECT DISTINCT server, check_name, subject FROM imp_new;
