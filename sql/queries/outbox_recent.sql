-- The newest $1 outbox entries, optionally of installer $2 only (never the bodies).
SELECT key, created, kind, server, installer, recipients, subject, status, attempts,
       last_error, sent_at
FROM outbox
WHERE $2::VARCHAR IS NULL OR installer = $2
ORDER BY created DESC, key
LIMIT $1
