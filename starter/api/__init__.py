"""The service-desk HTTP API: `create_app(settings)`, served by `cxsla api` and `cxsla up`."""

from starter.api.app import create_app, run_api, serve

__all__ = ["create_app", "run_api", "serve"]
