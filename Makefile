# Every target works on a fresh machine: `make install` runs first where needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: install run test lint lock bench bench-whatif soak histories clean

install: $(STAMP)

# The lock pins every dependency of every extra (reproducible installs); a dependency it does not
# list yet (just added to pyproject.toml) resolves freely until `make lock` pins it.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[gateway,test,lint]'
	touch $(STAMP)

# Re-pin after changing dependencies in pyproject.toml: keeps the pins that still fit, adds the new.
# Needs only pip-tools, so it works while the lock is out of date. `make lock UPGRADE=1` moves
# every pin to the newest release.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'pip-tools>=7.4'
	$(BIN)/pip-compile --quiet --all-extras --strip-extras --no-emit-index-url --no-emit-find-links \
		$(if $(UPGRADE),--upgrade) --output-file $(LOCK) pyproject.toml

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

run: install
	$(BIN)/switchboard dev --directory examples/directory.yaml --demo

test: install
	$(BIN)/pytest -q --durations=15

bench: install
	$(BIN)/switchboard bench

# The what-if simulator: a day of 100,000 conversations over 50 skills (docs/whatif.md "Speed").
bench-whatif: install
	$(BIN)/python -m whatif.bench

# The full fault soak (README "Fault soak"): about 3 minutes per database; exits 1 on any finding.
soak: install
	$(BIN)/python -m switchboard.soak --database sqlite --database postgres --workers 2 \
		--conversations 300 --kills 3 --server-restarts 1

# Re-record the Conversation histories that tests/test_replay.py replays (see that file first).
histories: install
	$(BIN)/python tests/record_histories.py

clean:
	rm -rf $(VENV) .switchboard switchboard.db* *.egg-info
