"""Durable Temporal workflows: thin, deterministic orchestration over the pure engine."""
