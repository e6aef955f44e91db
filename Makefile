# The few commands people type. `make demo` needs only Python 3.11; `make test` also needs
# PostgreSQL and Redis on 127.0.0.1 (started here when installed but stopped).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PAYHUB := $(BIN)/payhub

.PHONY: demo test bench services lint format diagram docs clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "payhub needs Python 3.11 (Spyne 2.14 does not import on 3.12+); set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test,prod]'
	@touch $@

demo: $(VENV)/.installed
	$(PAYHUB) -c development.ini migrate
	$(PAYHUB) -c development.ini seed-demo
	$(PAYHUB) -c development.ini serve --host 127.0.0.1 --port 6543

services:
	@bash scripts/ensure-services.sh

test: $(VENV)/.installed lint services
	@bash scripts/ensure-system-packages.sh
	@bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmarks print their figures (about 10 minutes; they need PostgreSQL and Redis, and wrk)
bench: $(VENV)/.installed services
	@bash scripts/ensure-system-packages.sh wrk
	$(BIN)/python bench/soap_bench.py --seconds 8
# issue 21: durable paSendRTV2 at saturation against pgbench running the same transaction
	$(BIN)/python bench/receipt_bench.py
	$(BIN)/python bench/soap_cpu.py
	$(BIN)/python bench/receipt_cpu.py
	$(BIN)/python bench/notices_bench.py --count 10000
	$(BIN)/python bench/bulk_bench.py --rows 100000
	$(BIN)/python bench/fdr_bench.py --payments 100000
# issue 21 (bench/scale_bench.py): dashboard, searches, REST list, export at scale
	$(BIN)/python bench/scale_bench.py --options 100000
	$(BIN)/python bench/transitions_bench.py --options 100000
# issue 18: one Ente's daily file of 100,000 payments built in <= 60 s with flat memory
	$(BIN)/python bench/dailyfile_bench.py --large 100000

# The house rules, checked by `make test` too: lint, formatting, types (hub/, workflows/) and the
# layer contracts (web/soap/actors/sla_monitor -> hub -> workflows; nodesim apart).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

diagram: $(VENV)/.installed
	$(BIN)/python -c 'from workflows.payment import mermaid; print(mermaid())'

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, anchor or nav
# entry stops the build. Diagrams and the CLI reference come from the code (scripts/gen_docs.py).
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) var/*.sqlite* build *.egg-info
