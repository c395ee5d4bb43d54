-- One outbox entry with its bodies, by key $1; of installer $2 only when $2 is not NULL.
SELECT key, created, kind, server, installer, recipients, subject, status, attempts,
       last_error, sent_at, body_text, body_html
FROM outbox
WHERE key = $1 AND ($2::VARCHAR IS NULL OR installer = $2)
