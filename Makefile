# Entry points. Every target installs the Debian packages it needs first: building and running
# (`build`, `up`, `demo`) what scripts/setup.sh installs, `deb` adds dpkg-dev (--deb), tests,
# benchmarks, fuzzing and the CI checks everything (scripts/setup.sh --test).
BUILD ?= build
JOBS ?= $(shell nproc)
# -Werror: CI sets VRAMGUARD_WERROR=ON (.ci/run); off by default so a newer compiler never blocks a user.
VRAMGUARD_WERROR ?= OFF
# The sanitizer build (make build-asan / test-asan) and the benchmark build (make bench).
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench

.PHONY: all setup setup-deb setup-test build up demo test test-unit test-e2e test-gpu fuzz bench \
	format format-check tidy build-asan test-asan deb check-deb clean

all: build

setup:
	@bash scripts/setup.sh

setup-deb:
	@bash scripts/setup.sh --deb

setup-test:
	@bash scripts/setup.sh --test

build: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DVRAMGUARD_WERROR=$(VRAMGUARD_WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: `vramguard up` in the foreground with the demo service (examples/demo.toml), on
# the simulated GPU where there is no NVIDIA driver. Ctrl-C to stop.
up: build
	@bash scripts/up.sh

# A scripted tour that ends by itself (CI runs it): the ghost and reap, then the supervisor.
demo: build
	@bash scripts/demo.sh

# Every test: unit, simulated-GPU end-to-end scenarios, and GPU scenarios (skipped without a GPU).
test: setup-test build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-unit: setup-test build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE 'e2e|gpu'

test-e2e: setup-test build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L e2e

test-gpu: setup-test build
	@bash tests/gpu/run.sh

# The OOM classifier under libFuzzer (clang), FUZZ_SECONDS long (CI runs 60 s).
FUZZ_SECONDS ?= 60
fuzz: setup-test
	@bash fuzz/run.sh $(FUZZ_SECONDS)

# Benchmarks need a build of their own: the test build leaves them out (VRAMGUARD_BENCH=OFF).
bench: setup-test
	@cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVRAMGUARD_BENCH=ON >/dev/null
	@cmake --build $(BENCH_BUILD) -j $(JOBS)
	@BUILD=$(BENCH_BUILD) bash bench/run.sh
	@BUILD=$(BENCH_BUILD) bash bench/supervisor_bench.sh
	@BUILD=$(BENCH_BUILD) bash bench/classify_bench.sh
	@BUILD=$(BENCH_BUILD) bash bench/scale_bench.sh

# AddressSanitizer + UndefinedBehaviorSanitizer build in $(ASAN_BUILD)/ (-O1, every target, the
# simulated NVML library included); test-asan runs the unit tests and the e2e scenarios under it
# (scripts/test_asan.sh says which and why). No -Werror there: with the sanitizers at -O1, GCC 12
# warns -Wmaybe-uninitialized inside libstdc++'s std::regex (std::function in _NFA), not our code.
build-asan: setup-test
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DVRAMGUARD_SANITIZE=address,undefined >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: build-asan
	@BUILD=$(ASAN_BUILD) JOBS=$(JOBS) bash scripts/test_asan.sh

# The chaos soak (tests/chaos/soak.py, docs/reliability.md): seeded random faults against a daemon
# on the simulated GPU, invariants checked after each. SEED empty: a random seed, printed.
.PHONY: chaos chaos-ci
SEED ?=
FAULTS ?= 200
chaos: build
	@python3 tests/chaos/soak.py --build $(BUILD) --faults $(FAULTS) $(if $(SEED),--seed $(SEED))

# CI's short soak: a fixed seed, at most ~2 minutes, against the ASan build when there is one.
CHAOS_BUILD ?= $(if $(wildcard build-asan/vramguard),build-asan,$(BUILD))
chaos-ci:
	@python3 tests/chaos/soak.py --build $(CHAOS_BUILD) --seed 1 --faults 40 --duration 75

# The .deb (CPack, cmake/install.cmake) in $(BUILD)/package/: installs files only, enables and
# starts nothing (`sudo systemctl enable --now vramguard` is the user's step).
deb: setup-deb build
	@rm -rf $(BUILD)/package
	@cmake --build $(BUILD) --target package >/dev/null
	@ls $(BUILD)/package/*.deb

# What CI checks about it (tests/package/check_deb.sh): installed with dpkg into a throwaway root.
check-deb: setup-test build
	@BUILD=$(BUILD) bash tests/package/check_deb.sh

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

# What CI checks: every tracked C++ file is formatted (make format fixes it).
format-check:
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
	@echo "format-check: $$(git ls-files '*.cc' '*.h' | wc -l) files formatted"

# clang-tidy (.clang-tidy) on the C++ files changed since TIDY_BASE (scripts/tidy.sh: the default
# base, and which files a changed header brings in). TIDY_BASE=all checks every file.
TIDY_BASE ?=
tidy: setup-test
	@TIDY_BASE=$(TIDY_BASE) JOBS=$(JOBS) bash scripts/tidy.sh

clean:
	rm -rf $(BUILD)
