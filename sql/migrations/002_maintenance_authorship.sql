-- When the store took each maintenance window, beside when the customer was told (announced_at)
-- and when the window starts: a window declared after the fact (announced or starting before it
-- was recorded) stays visible as such in listings and SLA reports. Set by the daemon, never by a
-- client. Rows from before this migration have no record time (NULL: unknown).
ALTER TABLE maintenance ADD COLUMN recorded_at TIMESTAMPTZ;

-- Who ended a window early (the account of the caller, like created_by).
ALTER TABLE maintenance ADD COLUMN removed_by VARCHAR;
