"""Activities: every piece of I/O (engine evaluation, notifications)."""
