# v2m front door. The two commands: `make run` and `make test`.
# `make chaos` runs uploads under kills and restarts on both deployments and
# checks nothing is lost (tests/chaos/chaos.py, docs/OPERATIONS.md).
# `make fuzz` runs the libFuzzer targets (clang), FUZZ_SECONDS each (default
# 600), one after the other; `make fuzz-merge` minimises what they found into
# tests/fuzz/corpus/ (see docs/FUZZING.md). `make test` replays that corpus.
BUILD      ?= build
TEST_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build test test-unit chaos images run bench fuzz fuzz-merge clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(TEST_BUILD)/CMakeCache.txt:
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DV2M_SANITIZE=ON

# Sanitizer build, real servers started and stopped around ctest.
test: deps $(TEST_BUILD)/CMakeCache.txt
	cmake --build $(TEST_BUILD) -j$(JOBS)
	tests/harness/services.sh run -- ctest --test-dir $(TEST_BUILD) --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# Fast tier only, no servers.
test-unit: deps $(TEST_BUILD)/CMakeCache.txt
	cmake --build $(TEST_BUILD) -j$(JOBS)
	ctest --test-dir $(TEST_BUILD) --output-on-failure -L unit -j$(JOBS)

# Both deployments under kills and restarts, real servers around. On the
# Release build: conversions are most of the work, and a sanitizer build
# would need longer than the run's time budget for the same load.
chaos: build
	tests/harness/services.sh run -- env V2M_BIN=$(CURDIR)/$(BUILD)/bin tests/chaos/chaos.py

# Container images from a debootstrap base, each binary's --version inside
# its image, then the login -> upload -> download flow across containers.
images:
	tests/deploy/images.sh

run: build
	scripts/run.sh $(BUILD)/bin

bench:
	@scripts/deps.sh --bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	@for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done

# libFuzzer + ASan/UBSan build in $(FUZZ_BUILD); one fuzzer at a time,
# single-threaded. FUZZ_TARGETS="token range" picks targets.
fuzz:
	@scripts/deps.sh --fuzz
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh run $(FUZZ_TARGETS)

fuzz-merge:
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh merge $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
