"""`cxsla complaint show` loads only what reading a complaint needs: most of what a CLI command costs is starting the
interpreter and importing, so the service's web stack, metrics, workflows, activities, engine and logging setup stay
out of it (bench/cli_latency.py prints the figures)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e  # runs the CLI in a fresh interpreter

# (temporalio.workflow is not among them: temporalio.client imports it.)
HEAVY = ("fastapi", "starlette", "uvicorn", "prometheus_client", "sqlalchemy", "httpx", "structlog", "holidays",
         "jinja2", "plugin", "workflows", "activities", "starter.api", "starter.client.complaints",
         "starter.client.assessment", "starter.service.logs", "starter.service.metrics", "sla.policy", "sla.engine",
         "sla.status", "temporalio.worker", "temporalio.contrib.pydantic")

PROBE = """
import json, os, sys
real_exit = os._exit
def report(code):
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m in HEAVY or
                   any(m.startswith(h + ".") for h in HEAVY))
    sys.stdout.write("\\nLOADED " + json.dumps(heavy) + "\\n")
    sys.stdout.flush()
    real_exit(code)
os._exit = report
sys.argv = ["cxsla", *ARGS]
from starter.cli.main import main
main()
"""


def loaded(*args: str) -> list[str]:
    code = f"HEAVY = {json.dumps(HEAVY)}\nARGS = {json.dumps(args)}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line = next(line for line in done.stdout.splitlines() if line.startswith("LOADED "))
    return json.loads(line.removeprefix("LOADED "))


def test_complaint_show_imports_none_of_the_service_stack():
    # A port nothing listens on: the command connects, is refused, and exits, having imported all it would.
    assert loaded("complaint", "show", "T-1", "--address", "127.0.0.1:1") == []


def test_the_heavy_modules_are_what_a_full_command_loads():  # the probe can see them
    assert "sla.policy" in loaded("complaint", "open", "--id", "T-1", "--contract", "nope", "--severity", "low")
