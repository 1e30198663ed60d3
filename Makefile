# The two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The example application's port (clients/example-rp): `make run RP_PORT=5002` registers its redirect URI.
RP_PORT ?= 5001
OS_PACKAGES := redis-server redis-sentinel postgresql slapd ldap-utils chromium chromium-driver wrk apache2 \
               libapache2-mod-auth-openidc php-cli php-curl composer
export IDP_INSTANCE_DIR ?= $(CURDIR)/instance

.PHONY: run test venv os-packages lint fmt bench bench-scale clean i18n audit

$(BIN)/.installed: pyproject.toml setup.py requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

REGISTRY_PORT ?= 8099

## make run: migrate, create keys and demo data, serve on http://127.0.0.1:5000 (SQLite, in-process store),
## with the population-registry simulator on 127.0.0.1:$(REGISTRY_PORT) (IDP_REGISTRY_URL unless already set).
## RP_PORT: the example application's port (default 5001); PORT/HOST: the provider's (the issuer follows
## them unless IDP_ISSUER is set).
run: venv
	export IDP_ISSUER="$${IDP_ISSUER:-http://$(HOST):$(PORT)}"; \
	$(BIN)/idp db upgrade && \
	$(BIN)/idp keys ensure && \
	$(BIN)/idp demo --rp-port $(RP_PORT) && \
	{ $(BIN)/idp registry-sim --port $(REGISTRY_PORT) & sim=$$!; trap "kill $$sim" EXIT; \
	IDP_REGISTRY_URL=$${IDP_REGISTRY_URL-http://127.0.0.1:$(REGISTRY_PORT)/verify} \
	IDP_REGISTRY_USER=$${IDP_REGISTRY_USER-agency} IDP_REGISTRY_PASSWORD=$${IDP_REGISTRY_PASSWORD-registry-sim} \
	$(BIN)/idp run --host $(HOST) --port $(PORT) --no-reload; }

## make test: OS packages (apt-get when root), venv, then the whole suite against real services
test: os-packages venv
	$(BIN)/ruff check idp tests clients bench
	$(BIN)/mypy idp
	$(BIN)/lint-imports --no-cache
	@$(MAKE) --no-print-directory audit
	$(BIN)/python -m pytest

## make audit: known vulnerabilities in the locked dependencies (pip-audit); fails on any finding.
## Where the vulnerability database cannot be reached (no route to PyPI's JSON API), it says so loudly
## and does not fail: an unaudited run is not a clean one, and the message says exactly that.
audit: venv
	@out=$$($(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off 2>&1); rc=$$?; \
	if echo "$$out" | grep -Eq "Found [0-9]+ known vulnerabilit"; then echo "$$out"; exit 1; fi; \
	missing=$$(echo "$$out" | grep -c "could not be audited"); \
	if [ "$$missing" -gt 0 ]; then \
	  echo "WARNING: pip-audit could not reach the vulnerability database for $$missing locked packages;"; \
	  echo "WARNING: they are NOT audited on this machine (run 'make audit' where PyPI's JSON API is reachable)."; \
	elif [ $$rc -ne 0 ]; then echo "$$out"; exit $$rc; \
	else echo "pip-audit: no known vulnerabilities in requirements.lock"; fi

os-packages:
	@missing=""; \
	for cmd in redis-server:redis-server redis-sentinel:redis-sentinel postgresql:/usr/lib/postgresql \
	           slapd:/usr/sbin/slapd ldap-utils:ldapadd chromium:chromium chromium-driver:chromedriver wrk:wrk \
	           apache2:/usr/sbin/apache2 libapache2-mod-auth-openidc:/usr/lib/apache2/modules/mod_auth_openidc.so \
	           php-cli:php php-curl:/etc/php/8.2/mods-available/curl.ini composer:composer; do \
	  pkg=$${cmd%%:*}; probe=$${cmd#*:}; \
	  if [ -e "$$probe" ] || command -v "$$probe" >/dev/null 2>&1; then :; else missing="$$missing $$pkg"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing OS packages:$$missing"; \
	    echo "Install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

## make bench: the benchmark of issues 8 and 20 against a production-like provider, side by side with the peer
## (node-oidc-provider, installed by the harness with npm ci: needs Node.js >= 20.18) (bench/README.md); not part of `make test`
BENCH_ARGS ?=
bench: os-packages venv
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing: wrk"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; \
	  else echo "Missing OS package: wrk. Install it with: sudo apt-get install wrk"; exit 1; fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## make bench-scale: the scale benchmark, apart from `make bench` so that each stays under 15 minutes: citizen
## sign-in latency at 1 M and 12 M synthetic accounts (bench/scale.py; about 8-10 minutes and 20 GB of disk)
SCALE_ARGS ?=
bench-scale: os-packages venv
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

lint: venv
	$(BIN)/ruff check idp tests clients bench
	$(BIN)/mypy idp
	$(BIN)/lint-imports --no-cache

fmt: venv
	$(BIN)/ruff check --fix idp tests clients bench

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache bench/peer/node_modules

## make i18n: extract strings, merge into the Indonesian catalogue, compile
i18n: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o /tmp/idp-messages.pot .
	test -f idp/translations/id/LC_MESSAGES/messages.po || $(BIN)/pybabel init -i /tmp/idp-messages.pot -d idp/translations -l id
	$(BIN)/pybabel update -i /tmp/idp-messages.pot -d idp/translations -l id --no-fuzzy-matching
	$(BIN)/pybabel compile -d idp/translations -l id
