# The two set-up commands (README "Quick start"):
#   make demo   create/reuse .venv, install neurocine, run `neurocine demo` (writes ./demo-output)
#   make test   create/reuse .venv, install neurocine with its test extra, run the test suite
# Both call scripts/bootstrap.sh, which installs only what is missing or out of date.
#
# Extra arguments: make test ARGS="tests/test_cli.py -x"    make demo ARGS="--help"

VENV ?= .venv
PYTEST_FLAGS ?= -q -ra --durations=15
ARGS ?=

export VENV

.PHONY: demo test venv clean-venv

venv:
	bash scripts/bootstrap.sh

demo: venv
	$(VENV)/bin/neurocine demo $(ARGS)

test: venv
	$(VENV)/bin/python -m pytest $(PYTEST_FLAGS) $(ARGS)

clean-venv:
	rm -rf $(VENV)
