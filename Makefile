# The README's two commands: `make run` (the whole product on embedded defaults) and `make test`
# (the whole suite). Both install what they need into .venv first.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip runs only when a requirements file is newer than its stamp.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

# Local runs default to DEBUG on (the development SECRET_KEY is then allowed, billing sandbox on,
# plain http); an explicit DEBUG in the environment wins.
DEV_ENV := export DEBUG="$${DEBUG:-true}";

.PHONY: run test superuser migrate install install-dev chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

migrate: $(RUNTIME_STAMP)
	@$(DEV_ENV) $(BIN)/python manage.py migrate --noinput

# Web on http://localhost:$${PORT:-4000} and :$${PIXELL_SECOND_PORT:-3000}, plus a Celery worker
# with embedded beat and the local agent runtime: every Procfile line, run and restarted by
# pixell/supervise.py. Links in mails and API answers point at this server's own port unless
# PIXELL_PUBLIC_URL says otherwise.
# The runtime listens on 127.0.0.1:$${PIXELL_RUNTIME_PORT:-4001}; unless PIXELL_RUNTIME_URL is
# given, the pipeline is pointed at it with a secret made for this run and allowed to reach
# loopback (PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS, and PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS for
# settings that tell the runtime URL apart).
LOCAL_RUNTIME_ENV := export PIXELL_RUNTIME_PORT="$${PIXELL_RUNTIME_PORT:-4001}"; \
	if [ -z "$${PIXELL_RUNTIME_URL:-}" ]; then \
		export PIXELL_LOCAL_RUNTIME="$${PIXELL_LOCAL_RUNTIME:-true}" \
			PIXELL_RUNTIME_URL="http://127.0.0.1:$$PIXELL_RUNTIME_PORT" \
			PIXELL_RUNTIME_SECRET="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
			PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS="$${PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS:-true}" \
			PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS="$${PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS:-true}"; \
	fi;

run: migrate
	@$(DEV_ENV) $(BIN)/python manage.py collectstatic --noinput -v 0
	@$(DEV_ENV) $(LOCAL_RUNTIME_ENV) export PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONUNBUFFERED=1 \
		PIXELL_PUBLIC_URL="$${PIXELL_PUBLIC_URL:-http://localhost:$${PORT:-4000}}"; \
		exec $(BIN)/python -m pixell.supervise Procfile

superuser: migrate
	@$(DEV_ENV) $(BIN)/python manage.py createsuperuser

# The whole suite with the current environment: SQLite by default; .ci/run sets PostgreSQL and
# Redis. pytest's exit code is the target's.
test: $(DEV_STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here). Installed
# when missing and we may; otherwise those tests skip and say why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian chromium for the browser tests (apt-get)..."; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
			|| echo "chromium could not be installed: browser tests will be skipped"; \
	fi

# Removes installed packages only; var/ (the local database and files) is kept.
clean:
	rm -rf $(VENV) staticfiles
