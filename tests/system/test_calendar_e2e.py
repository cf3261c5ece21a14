"""Publishing a year from the terminal: `cxsla calendar status` and `cxsla calendar refresh` against a real dev
server (`cxsla server`) and worker (`cxsla worker`), with the shipped policy and then one that publishes 2027."""

from __future__ import annotations

import os
import signal
import subprocess
import tomllib

import pytest
import tomli_w

from sla.policy import default_policy_path
from tests.helpers.calendars import last_published_cn_year
from tests.helpers.e2e import CXSLA, cli, cli_json, free_port, wait_for

PUBLISHED_2027 = {"holidays": ["2027-01-01", "2027-01-14", "2027-01-15"], "workdays": ["2027-01-09"]}
pytestmark = [pytest.mark.e2e,  # a dev server and the cxsla worker as subprocesses
              pytest.mark.skipif(last_published_cn_year() >= 2027,
                                 reason="the installed holidays package already knows 2027")]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calendar-e2e")
    shipped = tomllib.loads(default_policy_path().read_text())
    published = tomllib.loads(default_policy_path().read_text())
    published["calendars"]["cn-standard"]["years"] = {"2027": PUBLISHED_2027}
    (tmp / "shipped.toml").write_text(tomli_w.dumps(shipped))
    (tmp / "published.toml").write_text(tomli_w.dumps(published))
    port, ui_port = free_port(), free_port()
    server = subprocess.Popen(
        [CXSLA, "server", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp / "temporal.db")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "CXSLA_TASK_QUEUE": "cal-e2e",
           "CXSLA_POLICY": str(tmp / "shipped.toml")}
    worker = None
    try:
        wait_for(lambda: cli("complaint", "list", env=env, check=False).returncode == 0, 60, "dev server")
        worker = subprocess.Popen([CXSLA, "worker"], env={**os.environ, **env, "CXSLA_METRICS_PORT": str(free_port())},
                                  stdout=(tmp / "worker.log").open("ab"), stderr=subprocess.STDOUT)
        yield env, str(tmp / "published.toml")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def test_status_shows_the_horizon_and_refresh_sends_a_published_year_to_live_clocks(service):
    env, published = service
    shipped_status = {row["calendar"]: row for row in cli_json("calendar", "status", env=env)}
    cn = shipped_status["cn-standard"]
    assert cn["known_until"] == f"{last_published_cn_year()}-12-31" and cn["source"].startswith("holidays package")
    assert "default" in cn["contracts"] and shipped_status["24x7"]["known_until"] is None
    human = cli("calendar", "status", env=env).stdout
    assert "cn-standard" in human and "known until" in human

    cli_json("complaint", "open", "--id", "cal-1", "--contract", "default", "--severity", "normal", env=env)
    cli_json("complaint", "ack", "cal-1", "--by", "amy", env=env)
    extended = cli_json("complaint", "extend", "cal-1", "--clock", "resolve", "--until", "2027-01-20T10:00:00+08:00",
                        "--reason", "waiting for the manufacturer", "--by", "sup", env=env)
    resolve = [c for c in extended["clocks"] if c["name"] == "resolve"][-1]
    assert resolve["provisional"] is True and extended["provisional"] is True
    assert "provisional" in cli("complaint", "show", "cal-1", env=env).stdout

    with_2027 = {**env, "CXSLA_POLICY": published}
    status = {row["calendar"]: row for row in cli_json("calendar", "status", env=with_2027)}
    assert status["cn-standard"]["known_until"] == "2027-12-31" and status["cn-standard"]["source"] == "policy"

    [report] = cli_json("calendar", "refresh", "--calendar", "cn-standard", "--by", "ops", env=with_2027)
    assert report["workflows"] >= 1 and report["changed"] >= 1 and report["failed"] == 0
    assert 2027 in report["years"]
    shown = cli_json("complaint", "show", "cal-1", env=env)
    resolve = [c for c in shown["clocks"] if c["name"] == "resolve"][-1]
    assert resolve["provisional"] is False and not shown["provisional"]
    assert any(e["type"] == "calendar_updated" for e in shown["timeline"])
    [again] = cli_json("calendar", "refresh", "--calendar", "cn-standard", env=with_2027)
    assert again["changed"] == 0 and again["unchanged"] >= 1  # the same data twice changes nothing
    refused = cli("calendar", "refresh", "--calendar", "nope", env=env, check=False)
    assert refused.returncode != 0 and "unknown calendar 'nope'" in refused.stderr
