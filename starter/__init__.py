"""Clients: the typed Python facade and the cxsla CLI."""
