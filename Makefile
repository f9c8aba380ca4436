# The two commands of the README: `make demo` and `make test`. Each sets up what it needs first:
# a virtualenv with the project installed, and (once, cached in ~/.cache/insertion-ledger) the
# Apache Kafka broker's jars from Maven Central.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled

.PHONY: demo test unit integration setup check-tools clean

demo: setup
	$(VENV)/bin/ledger demo

# The integration tests mostly wait on brokers, workers and loaders: two or three pytest processes
# (pytest-xdist, each with a broker of its own) halve the run on two cores. A file's tests stay in one
# process (`--dist loadfile`: their module fixtures are built once, and test_gateway_fuzz's last
# test reads what its fuzz cases did); files are handed out in the collection's order, where those
# with slow tests come first (tests/conftest.py), so that none is left to start at the end.
# TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 3

test: setup
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

unit: setup
	$(VENV)/bin/python -m pytest tests/unit

integration: setup
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/integration

setup: check-tools $(STAMP) $(COMPILED)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	$(VENV)/bin/python -m streams.kafka.localkafka
	touch $(STAMP)

# The worker's hot modules compiled by Cython (setup.py), and again once a source (.py, .pyx) or a .pxd (the
# types of their classes' attributes, setup.py) has changed: while an extension is older than its
# source, none is imported (streams/compiled.py), the sources would run, slower. No C compiler: a warning, and
# the sources run. A changed setup.py drops the generated C: Cython translates a source again when
# it changes, not when only its directives do.
$(COMPILED): $(STAMP) setup.py $(wildcard ledger/*.py ledger/*.pyx ledger/*.pxd streams/worker/*.py streams/worker/*.pxd streams/kafka/codec.py streams/kafka/partitioner.pyx)
	$(if $(filter setup.py,$?),rm -rf build/cython)
	$(VENV)/bin/python -W "ignore:Support for" setup.py --quiet build_ext --inplace
	touch $(COMPILED)

check-tools:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed")'
	@command -v java >/dev/null || { echo "Java >= 17 is needed to run the local Kafka broker (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || [ -d "$$HOME/.cache/insertion-ledger" ] || { echo "Maven is needed once to fetch Kafka's jars (apt-get install maven)"; exit 1; }

clean:
	rm -rf $(VENV) .ledger build
	find ledger streams -name '*.so' -delete
