# Two commands do all set-up and work (see README):  make demo   |   make test
# The virtual environment lives in .venv; it is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bench clean-cache browser wordnet

setup: $(STAMP)

# The browser tests drive Debian's chromium + chromedriver (never a downloaded browser); they
# skip, with a reason, where neither apt nor the packages are available.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium not installed: the browser tests will be skipped"

# WordNet 3.0 (Debian's wordnet-base) for the offline synonym substitution of the perturbation
# study; without it that backend says how to install it and the real-WordNet test is skipped.
wordnet:
	@test -f /usr/share/wordnet/index.noun || \
	  { command -v apt-get >/dev/null && $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wordnet-base >/dev/null; } || \
	  echo "wordnet-base not installed: perturbation.substitution = 'wordnet' will ask for it"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch FIRST and pinned (constraints.txt): the local CPU build, never the multi-GB CUDA one
	$(PY) -m pip install -q -r constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) wordnet
	$(VENV)/bin/bmembed-lab run --config configs/demo.toml
	@# what notebooks 05-07 show, computed now so that they open from the cache
	$(VENV)/bin/bmembed-lab perturb --config configs/demo.toml --show 1
	$(VENV)/bin/bmembed-lab diagnose --config configs/demo.toml
	@echo ""
	@echo "Open the workbench (served on 127.0.0.1 only, marimo's access token on):"
	@echo "  $(VENV)/bin/bmembed-lab notebooks           # every notebook as an app"
	@echo "  $(VENV)/bin/bmembed-lab notebooks 02        # one notebook, by its number"
	@echo "  $(VENV)/bin/bmembed-lab notebooks --edit    # marimo's editor: read and change the code"

test: $(STAMP) browser wordnet
	$(PY) -m pytest -q

bench: $(STAMP) wordnet
	$(PY) bench/run_bench.py

clean-cache:
	rm -rf .bmembed_cache
