# The two commands: `make demo` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
B ?=

.PHONY: demo test bench lint install clean down sshd

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the pins or the package metadata change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The HA drill reaches its colo hosts over real SSH: OpenSSH's sshd must be installed (not running).
sshd:
	@test -x /usr/sbin/sshd || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq openssh-server >/dev/null; } \
		|| echo "note: no /usr/sbin/sshd; the demo will skip the HA drill"

demo: $(STAMP) sshd
	$(BIN)/opsctl demo

down: $(STAMP)
	$(BIN)/opsctl demo --down

test: $(STAMP)
	$(BIN)/python -m pytest tests -q

bench: $(STAMP)
	$(BIN)/python -m bench $(B)

lint: $(STAMP)
	$(BIN)/ruff check core_bridge hw flows reports bench tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
