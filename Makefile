PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the lock (uv.lock) into .venv; it is bootstrapped with the venv's own pip into a
# folder of its own, so that `uv sync` (which removes what the lock does not list) leaves it be.
UV_VERSION := 0.13.9
UV := $(VENV)/tools/bin/uv
# Only the interpreter that made .venv: uv never downloads one of its own here.
export UV_PYTHON_DOWNLOADS := never

.PHONY: install lock run test lint bench soak clean chromium nginx

$(UV):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target $(VENV)/tools "uv==$(UV_VERSION)"

# Exactly what uv.lock pins, the server and dev extras included (the project itself editable);
# --locked fails if pyproject.toml changed without `make lock`.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --python $(BIN)/python
	touch $(STAMP)

install: $(STAMP)

# Re-resolve uv.lock after editing pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves every
# pin to the newest release the constraints allow (then run the suite before committing it).
lock: $(UV)
	$(UV) lock $(LOCK_ARGS)

run: install
	$(BIN)/zyntro demo

# The browser tests drive Debian's Chromium: Playwright downloads no browser of its own here.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	command -v chromium >/dev/null || \
		($(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium)

# tests/test_deploy_nginx.py runs Debian's nginx with the shipped deploy/nginx configuration.
nginx:
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
		($(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nginx)

test: install chromium nginx
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

# The fetchAudiences benchmark on SQLite and PostgreSQL (bench/run.py; BENCH_ARGS=--help),
# then webhook delivery (bench/delivery.py).
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.delivery

# One live server under a mixed load for at most 60 s; fails on any 5xx or RSS growth >= 10 %.
soak: install
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
