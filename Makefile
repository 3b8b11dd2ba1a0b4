# The two commands: `make demo` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
B ?=

.PHONY: demo test bench lint install clean down sshd wheels

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# quickfix is published as source only and takes minutes to compile: its wheel is built once into a cache
# outside the repo (never committed); every later install, in any fresh venv, takes it from there.
WHEELS ?= $(HOME)/.cache/colo-ops/wheels
QUICKFIX := quickfix==1.16.0

wheels: $(BIN)/python
	@mkdir -p $(WHEELS)
	@ls $(WHEELS)/quickfix-1.16.0-*.whl >/dev/null 2>&1 || $(BIN)/pip wheel -q --no-deps -w $(WHEELS) $(QUICKFIX)

# Reinstall only when the pins or the package metadata change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(MAKE) --no-print-directory wheels
	$(BIN)/pip install -q --find-links $(WHEELS) -c constraints.txt -e '.[dev]'
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

# Two workers (one per core here); a test file stays on one worker, so its module fixtures start once.
# The reference core is built first so the workers never race to compile it.
TEST_WORKERS ?= 2
test: $(STAMP) refcore-asan
	$(BIN)/python -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile --durations=15

bench: $(STAMP)
	$(BIN)/python -m bench $(B)

# Not part of `make test`: a compressed day of >= 20 min (SOAK_MINUTES=N for a quick look), and the chaos run
# (>= 30 kill -9, compared with a same-seed day without faults). Reports in var/reports/soak/.
.PHONY: soak chaos
soak: $(STAMP) sshd
	$(BIN)/python -m flows.orchestration.soak

chaos: $(STAMP) sshd
	$(BIN)/python -m flows.orchestration.chaos

lint: $(STAMP)
	$(BIN)/ruff check core_bridge hw flows reports bench tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var

# ---- reference C core (hw/core_sdk, docs/core_sdk.md): `make refcore`, `make refcore-asan` ------------------
# libzmq (with CURVE), cJSON and pkg-config come from Debian: installed when missing and running as root.
REFCORE_CC ?= cc
REFCORE_OUT := var/build
REFCORE_DEPS := hw/core_sdk/refcore.c hw/core_sdk/colo_ops_protocol.h
REFCORE_CFLAGS := -std=c11 -Wall -Werror -Ihw/core_sdk
REFCORE_PKGS := libzmq libcjson

.PHONY: refcore refcore-asan refcore-deps

refcore-deps:
	@pkg-config --exists $(REFCORE_PKGS) 2>/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq \
		&& apt-get install -y -qq libzmq3-dev libcjson-dev pkg-config >/dev/null; } \
		|| { echo "error: the reference core needs libzmq3-dev libcjson-dev pkg-config (apt-get, as root)" >&2; exit 1; }

refcore: $(REFCORE_OUT)/refcore
refcore-asan: $(REFCORE_OUT)/refcore-asan

$(REFCORE_OUT)/refcore: $(REFCORE_DEPS) | refcore-deps
	@mkdir -p $(@D)
	$(REFCORE_CC) $(REFCORE_CFLAGS) -O2 -o $@ hw/core_sdk/refcore.c $$(pkg-config --cflags --libs $(REFCORE_PKGS))

$(REFCORE_OUT)/refcore-asan: $(REFCORE_DEPS) | refcore-deps
	@mkdir -p $(@D)
	$(REFCORE_CC) $(REFCORE_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=all -o $@ hw/core_sdk/refcore.c $$(pkg-config --cflags --libs $(REFCORE_PKGS))
