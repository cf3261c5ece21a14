"""The wiring every cx-sla process shares: settings, the connection to Temporal, payload encryption and the codec
server, API tokens, the inbound mapping, logs, metrics, the dev-server launcher and the worker runtime."""
