# The two set-up commands: `make test` and `make demo`. Each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kodek-installed
DEMO_OUT ?= demo-out

.PHONY: install test demo leaderboard lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	@# CPU builds for this kind of machine (no GPU); the package itself asks only for ranges.
	$(BIN)/pip install -q torch==2.13.0 torchcodec==0.13.0
	@# ai-edge-litert (the `lyra` extra, numpy only) at the version Lyra v2's models were measured with.
	$(BIN)/pip install -q -e ".[all,dev]" ai-edge-litert==2.3.0
	@# Without their declared dependencies (unrelated pins; torchaudio): what their models import comes with
	@# the extras above. ESPnet for SoundStream, speechtokenizer for SpeechTokenizer, Meta's encodec for the
	@# conformance tests (its model needs only torch and einops; only its file I/O imports torchaudio).
	$(BIN)/pip install -q --no-deps espnet==202511 speechtokenizer==1.0.1 encodec==0.1.1
	@# resemblyzer (offline speaker embedder, weights inside the wheel) without its webrtcvad/typing pins.
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4
	touch $(STAMP)

test: install
	$(BIN)/pytest -q

demo: install
	$(BIN)/kodek demo --out $(DEMO_OUT)

leaderboard: install
	@# The demo's results (made first if there are none yet), served on http://127.0.0.1:8501.
	test -d $(DEMO_OUT)/results || $(BIN)/kodek demo --out $(DEMO_OUT)
	$(BIN)/kodek leaderboard --results $(DEMO_OUT)/results

lint: install
	$(BIN)/ruff check src tests leaderboard metrics
	$(BIN)/ruff format --check src tests leaderboard metrics

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
