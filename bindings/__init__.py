"""Session bindings: which conversation a sub-agent session is bound to, kept in Redis with TTL expiry."""
