"""JSON logs: the SDK's workflow/activity extras become top-level ids, activities get their identity from
contextvars, personal fields are dropped and tracebacks carry no locals. (The end-to-end test in
test_observability_e2e.py reads a real worker's log too.)"""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
import temporalio.activity
import temporalio.workflow

from starter.service.logs import configure_logging

SECRET = "Zhang San 13800000000"


@pytest.fixture
def json_log():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, temporalio.workflow.logger.workflow_info_on_message,
             temporalio.activity.logger.activity_info_on_message)
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], level, wf, act = saved
        root.setLevel(level)
        temporalio.workflow.logger.workflow_info_on_message = wf
        temporalio.activity.logger.activity_info_on_message = act
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def test_activity_failure_line_has_ids_and_a_traceback_without_locals(json_log):
    def deliver(customer_name: str) -> None:
        contact = SECRET  # noqa: F841 - a local that must not reach the log
        raise RuntimeError("webhook http://127.0.0.1:1/hook answered 500")

    try:
        deliver(SECRET)
    except RuntimeError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True,
            extra={"__temporal_error_identifier": "ActivityFailure", "temporal_activity": {
                "activity_id": "3", "activity_type": "cxsla.notify", "attempt": 2, "namespace": "default",
                "task_queue": "cxsla", "workflow_id": "complaint-T-1", "workflow_run_id": "r-1",
                "workflow_type": "ComplaintWorkflow"}},
        )
    [line] = json_log()
    assert line["event"] == "Completing activity as failed" and line["level"] == "warning"
    assert (line["complaint_id"], line["workflow_id"], line["run_id"]) == ("T-1", "complaint-T-1", "r-1")
    assert (line["activity_type"], line["activity_id"], line["attempt"]) == ("cxsla.notify", "3", 2)
    assert "temporal_activity" not in line and not any(k.startswith("__") for k in line)
    [exc] = line["exception"]
    assert exc["exc_type"] == "RuntimeError" and "answered 500" in exc["exc_value"]
    assert exc["frames"] and all("locals" not in frame for frame in exc["frames"])
    assert SECRET not in json.dumps(line)


def test_workflow_logger_extra_becomes_fields(json_log):
    logging.getLogger("temporalio.workflow").warning(
        "breach %s (%s)", "acknowledge#1:breach", "minor",
        extra={"temporal_workflow": {"attempt": 1, "namespace": "default", "run_id": "r-9",
                                     "task_queue": "cxsla", "workflow_id": "complaint-T-9",
                                     "workflow_type": "ComplaintWorkflow"}},
    )
    [line] = json_log()
    assert line["event"] == "breach acknowledge#1:breach (minor)"
    assert (line["complaint_id"], line["workflow_id"], line["run_id"], line["workflow_task_attempt"]) == (
        "T-9", "complaint-T-9", "r-9", 1)


def test_contextvars_bound_around_activities_and_personal_fields_dropped(json_log):
    log = structlog.get_logger("cxsla.notify")
    with structlog.contextvars.bound_contextvars(workflow_id="complaint-T-2", run_id="r-2", attempt=1,
                                                 activity_type="cxsla.notify", complaint_id="T-2"):
        log.info("notification", kind="breach", customer_name=SECRET, summary=SECRET, note=SECRET)
    [line] = json_log()
    assert line["complaint_id"] == "T-2" and line["activity_type"] == "cxsla.notify" and line["kind"] == "breach"
    assert SECRET not in json.dumps(line)


def test_sdk_no_longer_appends_its_info_dict_to_messages(json_log):
    assert temporalio.workflow.logger.workflow_info_on_message is False
    assert temporalio.activity.logger.activity_info_on_message is False


CLI_WITH_A_LOGGING_COMMAND = """
import structlog
from starter.cli.app import app

@app.command("log-probe")
def probe() -> None:
    structlog.get_logger("cxsla.probe").debug("probe-debug")
    structlog.get_logger("cxsla.probe").info("probe-info")

app(["log-probe"], prog_name="cxsla")
"""


@pytest.mark.e2e  # runs the `cxsla` CLI as a process
@pytest.mark.parametrize(("level", "shown"), [(None, {"probe-info"}), ("DEBUG", {"probe-debug", "probe-info"})])
def test_cli_logs_at_the_configured_level_as_json_on_stderr_and_never_on_stdout(tmp_path, level, shown):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CXSLA_LOG_LEVEL"}
    env |= {"CXSLA_LOG_LEVEL": level} if level else {}
    done = subprocess.run([sys.executable, "-c", CLI_WITH_A_LOGGING_COMMAND], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "probe" not in done.stdout and "[debug" not in done.stdout
    events = {json.loads(line)["event"] for line in done.stderr.splitlines() if "probe" in line}
    assert events == shown, done.stderr


def test_loading_the_archive_store_logs_nothing_at_info():
    """Alembic announces each of its plugins at INFO when imported: noise on the first screen of `cxsla up`."""
    import subprocess
    import sys

    code = ("from starter.service.logs import configure_logging; configure_logging('INFO'); "
            "import activities.archive_store")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == "" and done.stdout == ""
