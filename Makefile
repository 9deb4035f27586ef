# Two commands on a fresh machine with Python 3.11:
#   make run   - install into .venv and run the monthly refresh on the demo data
#   make test  - install into .venv and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install run test ui sql chromium demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/python -m pipeline refresh

test: install chromium
	$(BIN)/python -m pytest -q

# the browser test drives Debian's chromium (root, no sudo); installed when missing
chromium:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# the UI listens on this machine only; set UI_HOST=0.0.0.0 to expose it (deliberately)
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h $(UI_HOST) -p $(UI_PORT)

# a read-only SQL prompt on the published warehouse (safe while a refresh runs)
sql: install
	$(BIN)/python -m pipeline.sql_prompt

demo: install
	$(BIN)/python -m pipeline.demo

clean:
	rm -rf $(VENV) data/warehouse.duckdb* data/exports
