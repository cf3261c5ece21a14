"""The web console at /ui: board, complaint and reports pages served by the API's own app, rendered on the server
(Jinja2 templates, plain forms, one small hand-written script for countdowns and the board's refresh; every asset
ships in this package, nothing is fetched from elsewhere)."""

from starter.api.console.pages import install

__all__ = ["install"]
