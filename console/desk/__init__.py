"""The incident desk: incidents, their events and live SLA timers (issue 11)."""
