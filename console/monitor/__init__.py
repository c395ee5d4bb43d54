"""Probing, checks, alert decisions and the fleet service: the engine behind every view."""
