"""The local outbox destination: JSON Lines files, no account needed."""
