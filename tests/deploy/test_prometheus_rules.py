"""Alert and recording rules in deploy/prometheus/: `promtool check rules` and `promtool test rules` pass, and every
alert has a unit test that fires it and one where it stays silent. (`make test` installs Debian's prometheus
package for promtool; without it these tests are skipped, saying so.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = sorted((DEPLOY / "rules").glob("*.yml"))
TESTS = sorted((DEPLOY / "tests").glob("*.test.yml"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (make test installs Debian's prometheus package as root)"
)


def _alerts() -> set[str]:
    return {rule["alert"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_firing_and_a_silent_case():
    firing: set[str] = set()
    silent: set[str] = set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = _alerts()
    assert len(alerts) >= 14
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - silent == set(), "alerts never shown silent"
    assert (firing | silent) <= alerts, "tests name alerts that do not exist"


def test_every_rule_has_a_severity_and_says_what_to_do():
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
                    assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


@needs_promtool
def test_promtool_check_rules():
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "rules", *map(str, RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.e2e  # Prometheus's own rule engine plays hours of series in a subprocess: most of a minute
def test_promtool_test_rules():
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "test", "rules", *map(str, TESTS)], capture_output=True, text=True,
                            cwd=DEPLOY / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_annotations_name_the_obligation_in_words_without_clause_numbers():
    """A person paged at night reads what was promised, not a clause of a contract template."""
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for text in rule.get("annotations", {}).values():
                    assert "§" not in text and "seed " not in text, rule.get("alert")
