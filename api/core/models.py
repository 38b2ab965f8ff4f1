"""Tables every domain shares: the outbox and the audit log."""
