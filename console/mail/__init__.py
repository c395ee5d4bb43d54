"""Notifications: grouped nl/fr/en mails, SMTP delivery and the store-first outbox."""
