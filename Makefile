# kvmtui build entry points. GNU make, POSIX sh recipes; works as root with no tty (CI).
# `make test` twice does no setup work twice: deps is a dpkg-query, the venv is redone only
# when pyproject.toml changes, the image only when its inputs change, the daemon only
# when it does not answer.

SHELL := /bin/sh
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
HARNESS := -m tests.harness

export DEBIAN_FRONTEND := noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

.PHONY: deps venv image cloudimage daemon daemon2 demo lint test bench soak clean-guests

# Debian packages; system python3, stdlib only (runs before the venv exists).
deps:
	$(PYTHON) $(HARNESS) deps

venv: $(VENV_STAMP)

# Order-only on deps: libvirt-python builds against libvirt-dev.
$(VENV_STAMP): pyproject.toml | deps
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -e '.[test]'
	touch $@

image: | venv
	$(VPY) $(HARNESS) image

# The cloud-init test guest: a debootstrap root in a qcow2 (about 100 s once, then cached
# in .cache/cloud/ until a package version or tests/harness/cloudimage.py changes).
cloudimage: | venv
	$(VPY) $(HARNESS) cloudimage

daemon: | venv
	$(VPY) $(HARNESS) daemon

# The second libvirtd (own network and mount namespaces, TCP on 10.251.0.2) for the
# migration tests; `make test` stops it again and removes its namespace.
daemon2: | venv daemon
	$(VPY) $(HARNESS) daemon2 start

demo: deps venv image daemon
	$(VPY) $(HARNESS) demo
	$(VENV)/bin/kvmtui -c qemu:///system

# mypy and lint-imports read the code under its installed names through a tree of links
# (.cache/pkgview/kvmtui/{backend,tui,screens}), remade each run so new files are in it.
PKGVIEW := .cache/pkgview

lint: | venv
	$(VENV)/bin/ruff check .
	rm -rf $(PKGVIEW) && mkdir -p $(PKGVIEW)/kvmtui && touch $(PKGVIEW)/kvmtui/__init__.py
	cp -rs "$(CURDIR)/backend" "$(CURDIR)/tui" "$(CURDIR)/screens" $(PKGVIEW)/kvmtui/
	find $(PKGVIEW) -name __pycache__ -prune -exec rm -rf {} +
	PYTHONPATH=$(PKGVIEW) $(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests/harness tests/conftest.py tests/daemon/test_harness.py

# Two lanes at once. Most of the daemon lane waits on guests (software emulation), so the
# other lane's Python (unit, test:/// and snapshot tests, and the leak test's test:///
# screens) runs meanwhile: about 10 minutes less than one after the other. The light lane
# never touches the real daemon; its log is printed after the daemon lane's. `pytest`
# alone still runs everything in one process.
LIGHT_ONLY := tests/daemon/test_leaks_screens.py::test_screens_leave_nothing_behind
LIGHT_LANE := tests/unit tests/testdriver snapshots $(LIGHT_ONLY)
LIGHT_LOG := .cache/light-lane.log
test: deps venv image cloudimage daemon daemon2 lint
	@mkdir -p .cache
	@echo "light lane ($(LIGHT_LANE)) runs beside the daemon lane; its log follows at the end"
	$(VENV)/bin/pytest -p no:cacheprovider $(LIGHT_LANE) >$(LIGHT_LOG) 2>&1 & light=$$!; \
	$(VENV)/bin/pytest tests/daemon tests/disruptive --deselect $(LIGHT_ONLY); heavy=$$?; \
	wait $$light; light_status=$$?; \
	echo "===== light lane (exit $$light_status) ====="; cat $(LIGHT_LOG); \
	$(VPY) $(HARNESS) daemon2 stop; \
	echo "daemon lane exit $$heavy, light lane exit $$light_status"; \
	[ $$heavy -eq 0 ] && [ $$light_status -eq 0 ]

# Benchmarks through the real libvirtd (figures printed, JSON in bench/results/).
# stats_bench first: ui_bench adds its backend tick to the UI's for the whole tick;
# many_hosts_bench after ui_bench (its tick target is ui_bench's 10,000 guests on one host)
# and last: it restarts libvirtd once to time the hosts' return.
bench: deps venv daemon
	$(VPY) bench/stats_bench.py
	$(VPY) bench/ui_bench.py
	$(VPY) bench/console_bench.py
	$(VPY) bench/agent_output_bench.py
	$(VPY) bench/transfer_bench.py
	$(VPY) bench/startup_bench.py
	$(VPY) bench/display_bench.py
	$(VPY) bench/clone_bench.py
	$(VPY) bench/create_bench.py
	$(VPY) bench/many_hosts_bench.py

# Soak benchmark (not part of test): the app for 10 minutes on the demo guests with random
# churn and one libvirtd restart; RSS, CPU and objects every minute, then a verdict.
# SOAK_ARGS=--minutes 3 for a shorter run.
soak: deps venv image daemon
	$(VPY) $(HARNESS) demo
	$(VPY) bench/soak.py $(SOAK_ARGS)

# Destroy and undefine kvmtui-test-* and kvmtui-demo-* guests.
clean-guests: | venv
	$(VPY) $(HARNESS) clean
