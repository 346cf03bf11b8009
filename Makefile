# Entry points. Every target installs missing Debian packages first (scripts/setup.sh).
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all setup build up demo test test-unit test-e2e test-gpu fuzz bench format clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: `vramguard up` in the foreground with the demo service (examples/demo.toml), on
# the simulated GPU where there is no NVIDIA driver. Ctrl-C to stop.
up: build
	@bash scripts/up.sh

# A scripted tour that ends by itself (CI runs it): the ghost and reap, then the supervisor.
demo: build
	@bash scripts/demo.sh

# Every test: unit, simulated-GPU end-to-end scenarios, and GPU scenarios (skipped without a GPU).
test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-unit: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE 'e2e|gpu'

test-e2e: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L e2e

test-gpu: build
	@bash tests/gpu/run.sh

# The OOM classifier under libFuzzer (clang), FUZZ_SECONDS long (CI runs 60 s).
FUZZ_SECONDS ?= 60
fuzz: setup
	@bash fuzz/run.sh $(FUZZ_SECONDS)

bench: build
	@bash bench/run.sh
	@bash bench/supervisor_bench.sh
	@bash bench/classify_bench.sh

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

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
