# v2m front door. The two commands: `make run` and `make test`.
BUILD      ?= build
TEST_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build test test-unit images run bench clean

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

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
