# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, start the database (embedded when DATABASE_URL is unset),
#               migrate, load demo data, print the demo admin, serve http://127.0.0.1:6543 (PORT=...),
#               and send the mail the app queues into var/mail/ (one .eml file per message)
#   make test   create .venv, install with test extras, run the whole suite on a real PostgreSQL
PYTHON ?= python3
# The port `make run` serves on: `make run PORT=8000`.
PORT ?= 6543
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: run test install migrate demo bench bench-growth clean erd

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[testing]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/alembic -c development.ini upgrade head

demo: migrate
	$(BIN)/ticketing development.ini demo-data
	$(BIN)/ticketing development.ini demo-admin

# The mail sender runs beside the server and stops with it (development.ini: var/mail/).
run: demo
	$(BIN)/ticketing-mail-sender development.ini & sender=$$!; \
	trap 'kill $$sender 2>/dev/null' EXIT INT TERM; \
	$(BIN)/pserve development.ini http_port=$(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

erd: $(STAMP)
	$(BIN)/python -m ticketing.scripts.erd > docs/erd.md

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.rush

# S, M and L seasons in one database, every operation timed through nginx (docs/performance.md).
bench-growth: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.growth

clean:
	rm -rf $(VENV) var build *.egg-info
