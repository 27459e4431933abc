# Every target works on a fresh machine: `make install` runs first where needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench histories clean

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

# Re-record the Conversation histories that tests/test_replay.py replays (see that file first).
histories: install
	$(BIN)/python tests/record_histories.py

clean:
	rm -rf $(VENV) .switchboard switchboard.db* *.egg-info
