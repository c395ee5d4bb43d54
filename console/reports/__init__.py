"""Monthly reports over the stored samples: availability accounting, outages, service credits,
web latency, history import and exports. Every report is a function of (connection, terms,
scope, month) returning an Arrow table, so the CLI, the console and the daemon's monthly mail
share one implementation and one set of accounting rules (`accounting.RULES_VERSION`)."""
