# Set-up and run targets quoted by the README.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-interactive test system-deps lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

## make demo: set up and run the whole blue-green cycle on a local sandbox
demo: $(STAMP)
	$(VENV)/bin/bluegreen demo

demo-interactive: $(STAMP)
	$(VENV)/bin/bluegreen demo --interactive

## make test: install what the tests need (sshd, nginx, Postgres check) and run them all
test: system-deps $(STAMP)
	$(VENV)/bin/pytest -q

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check deploy_core handlers bot sandbox
	$(VENV)/bin/bandit -q -c bandit.yaml -r deploy_core handlers bot sandbox
	$(VENV)/bin/mypy deploy_core --ignore-missing-imports --follow-imports=silent

clean:
	rm -rf $(VENV) .pytest_cache
