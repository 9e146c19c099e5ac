# The two quickstart commands: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
# The spec's frontend tools (Redocly, openapi-typescript, tsc; package-lock.json pins them),
# installed when npm is on the machine; without it their tests skip (CI requires them).
NPM := $(shell command -v npm 2>/dev/null)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck openapi messages bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## Start the service on the embedded SQLite database (./var/), migrated and seeded, on
## WECARE_HOST:WECARE_PORT (default 127.0.0.1:8000). The first run prints the first login.
run: $(STAMP)
	$(BIN)/wecare db upgrade
	$(BIN)/wecare seed
	$(BIN)/wecare serve

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

## Run everything CI runs: lint, format check, types, import layers, tests on SQLite and
## PostgreSQL, and the spec through Redocly's linter and openapi-typescript + tsc --strict.
test: lint typecheck $(if $(NPM),$(NODE_STAMP))
	$(BIN)/pytest

## Extract every marked message (msg(...), N_(...)) from app/ into app/locale/wecare.pot and
## merge it into the Italian and English catalogues; English gets identity translations.
## Then translate the new or fuzzy entries of app/locale/it/LC_MESSAGES/wecare.po.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k msg -k N_ --no-location \
		--sort-output --project=wecare --copyright-holder="Regione Piemonte" \
		-o app/locale/wecare.pot app
	$(BIN)/pybabel update -i app/locale/wecare.pot -d app/locale -D wecare \
		--ignore-obsolete --ignore-pot-creation-date
	$(BIN)/python -c 'from app.core.i18n import fill_identity; fill_identity("en")'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## Regenerate openapi/openapi.json from the app.
openapi: $(STAMP)
	$(BIN)/wecare openapi export

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache node_modules
