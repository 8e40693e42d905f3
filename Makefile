# Two commands on a fresh machine (see README):
#   make run    create .venv/, install everything, hub-install the module, start the web app
#   make test   the same setup (without starting anything), Chromium for browser tests, then pytest
# Both are idempotent: stamps in .venv/ skip work whose inputs did not change.

VENV     := .venv
PY       := $(VENV)/bin/python
HOST     ?= 127.0.0.1
PORT     ?= 8000
PYTEST_ARGS ?=
# MKL takes its AVX2 path on AMD CPUs only when asked (3-4x faster here); harmless on Intel.
export MKL_DEBUG_CPU_TYPE ?= 5

.PHONY: run test setup browser screenshots hub-package

# The venv's own pip and setuptools, pinned past their known advisories (python3 -m venv ships old ones).
TOOLING := pip==26.3 setuptools==80.9.0

$(VENV)/.installed: requirements.lock pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TOOLING)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# PaddleHub reports install/run/serving events to its server; point that at a closed loopback
# port so nothing about this machine (or a child's use of it) leaves it.
NO_PHONE_HOME := http://127.0.0.1:9

$(VENV)/.hub-installed: $(VENV)/.installed $(shell find hub_module -type f -not -path '*/__pycache__/*')
	$(VENV)/bin/hub config server==$(NO_PHONE_HOME) >/dev/null
	$(VENV)/bin/hub install hub_module/miaobi
	touch $@

setup: $(VENV)/.hub-installed

# Debian's Chromium for the Playwright tests (Playwright's own browser download cannot work offline),
# with emoji and CJK fonts so the page's screenshot shows its icons and title; and Redis, the shared
# rate-limit store the serving tests start.
BROWSER_PACKAGES := chromium fonts-noto-color-emoji fonts-wqy-microhei redis-server
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }

run: setup
	$(PY) -m webapp --host $(HOST) --port $(PORT)

test: setup browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# Rewrite docs/screenshot*.png (desktop after painting, and the page at four sizes) from the browser tests
# (make test leaves tracked files alone).
screenshots: setup browser
	MIAOBI_SCREENSHOTS=docs $(PY) -m pytest tests/test_browser.py -k "a_child_paints or what_a_child_needs"

# The PaddleHub module as one archive (module, vendored library, weights, licences) for `hub install` anywhere
# its third-party packages are installed: dist/miaobi-<version>.tar.gz.
hub-package: $(VENV)/.installed
	$(PY) hub_module/package.py dist
