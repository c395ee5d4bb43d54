"""SLA policies as configuration data: calendars, timer targets and availability terms."""
