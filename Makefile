# cliproxy — the README's two commands: `make run` and `make test`.
# Both install what they need on a fresh Debian machine.

SWIFT       ?= swift
DEB_PACKAGES = libjq-dev libonig-dev libcurl4-openssl-dev libyaml-dev libsqlite3-dev libcrypt-dev jq
VENV         = .venv
PY           = $(VENV)/bin/python
CLIPROXY     = .build/debug/cliproxy

.PHONY: all deps venv build run test unit rules-test sdk-check ir-check bench reliability reliability-fast clean

all: build

# Debian packages: installed when missing (as root), otherwise the command to run is printed.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

# Python with the official SDKs, for checking golden files against their types (git-ignored).
$(VENV)/.stamp: scripts/requirements-sdk.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r scripts/requirements-sdk.txt
	touch $@

venv: deps $(VENV)/.stamp

build: deps
	$(SWIFT) build --product cliproxy

run: build
	$(CLIPROXY) --config config.yaml

test: deps venv
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip 'Memory(Trim)?Tests'
	# the leak check counts malloc's in-use bytes and the trim check the RSS: each alone in its
	# process, so other suites' allocations do not count
	$(SWIFT) test --skip-build --filter MemoryTests
	$(SWIFT) test --skip-build --filter MemoryTrimTests
	rm -rf .build/ir && $(CLIPROXY) rules test --plain --emit-ir .build/ir
	$(PY) scripts/ir_check.py .build/ir
	$(PY) scripts/sdk_check.py
	$(PY) scripts/check_count_models.py
	# no Docker daemon here: the image's libraries, packages, paths and config are checked from the files
	python3 scripts/docker_check.py $(CLIPROXY)
	# the fast versions of the reliability runs (docs/RELIABILITY.md): fuzz, load, reload under load
	$(MAKE) --no-print-directory reliability-fast

unit: deps
	$(SWIFT) test

rules-test: build
	$(CLIPROXY) rules test

# Fuzz, load and reload under load against the debug binary and a canned upstream (scripts/reliability/,
# docs/RELIABILITY.md). The fast versions; the long ones and the soak are in docs/RELIABILITY.md.
RELIABILITY = python3 scripts/reliability/reliability.py
reliability: build reliability-fast

reliability-fast:
	CLIPROXY=$(CLIPROXY) $(RELIABILITY) fuzz --count 1000 --timeout 60
	CLIPROXY=$(CLIPROXY) $(RELIABILITY) load --concurrency 10,100 --seconds 3 --interval-ms 20 --max-rss-mb 400
	CLIPROXY=$(CLIPROXY) $(RELIABILITY) reload --seconds 5 --goal 0

bench: deps
	$(SWIFT) build -c release --product cliproxy-bench
	.build/release/cliproxy-bench

clean:
	rm -rf .build $(VENV)
