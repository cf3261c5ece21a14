"""What the tests share: servers and workers, policies, calendars, sinks and receivers, waits."""
