# Both targets create or refresh .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench bench-cycle clean tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cxsla up

test: $(STAMP) tools
	$(VENV)/bin/python -m pytest -q

# The pure and time-skipping tests (no dev server, no processes, no browser), on both cores.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not e2e" -n 2 --dist worksteal

# Lint and type-check the whole tree, tests included.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy sla workflows activities starter worker.py plugin.py bench tests

# promtool (alert-rule tests) and prometheus (the end-to-end scrape test) come from Debian's prometheus package.
# chromium (Debian's) photographs the HTML report (tests/system/test_report_browser.py, bench/report_screenshot.py).
# postgresql (Debian's) runs the archive tests on a real PostgreSQL (tests/system/test_archive_postgres.py).
# Installed when missing and we are root with apt-get; otherwise the tests that need them skip, saying why.
tools:
	@if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's prometheus package (promtool + prometheus, for the monitoring tests)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			prometheus >/dev/null; } || echo "make: WARNING: could not install prometheus; its tests will be skipped"; \
	else \
		echo "make: NOTE: promtool/prometheus not found and not installable here (needs root and apt-get);" \
			"the alert-rule and Prometheus scrape tests will be skipped"; \
	fi
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's chromium package (headless screenshot of the HTML report)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium >/dev/null; } || echo "make: WARNING: could not install chromium; the report browser test will be skipped"; \
	else \
		echo "make: NOTE: /usr/bin/chromium not found and not installable here (needs root and apt-get);" \
			"the report browser test will be skipped"; \
	fi
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's postgresql package (the archive's PostgreSQL tests)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql >/dev/null; } || echo "make: WARNING: could not install postgresql; its tests will be skipped"; \
	else \
		echo "make: NOTE: PostgreSQL not found and not installable here (needs root and apt-get);" \
			"the archive's PostgreSQL tests will be skipped"; \
	fi

bench: $(STAMP)
	$(VENV)/bin/python -m bench.lifecycle
	$(VENV)/bin/python -m bench.api_throughput
	$(VENV)/bin/python -m bench.wakeup
	$(VENV)/bin/python -m bench.breach_latency --open 500 --rates 10 --window 10 \
		--output bench/results/breach_latency_quick.json

# An assessment cycle over 10,000 and 100,000 imported complaints (the import alone takes tens of minutes).
bench-cycle: $(STAMP)
	$(VENV)/bin/python -m bench.cycle

clean:
	rm -rf $(VENV) .data
