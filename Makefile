# Every target works on a fresh machine: `make install` runs first where needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-whatif soak histories clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[gateway,test]'
	touch $(STAMP)

run: install
	$(BIN)/switchboard dev --directory examples/directory.yaml --demo

test: install
	$(BIN)/pytest -q

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
