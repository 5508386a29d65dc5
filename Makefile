# laotie — the two commands of the README, and a few more.
#   make demo    install deps, build, import ML-100K, train, serve on 127.0.0.1:8080
#   make test    install deps, build, run every test (normal and ASan+UBSan builds)
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
DATA ?= data
ML100K ?= $(firstword $(wildcard ../shared/data/ml-100k/u.data shared/data/ml-100k/u.data))
JOBS ?= $(shell nproc)

.PHONY: all deps deps-test build demo test test-fast test-asan bench bench-quick fuzz tsan crash soak clean

all: build

deps:
	@scripts/bootstrap.sh

# the tests also drive the dashboard in Debian's chromium
deps-test:
	@scripts/bootstrap.sh browser

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@if [ -z "$(ML100K)" ]; then echo "demo: ml-100k/u.data not found (set ML100K=path)"; exit 1; fi
	@if [ ! -d $(DATA)/log ]; then $(BUILD)/laotie import movielens $(ML100K) --data $(DATA); fi
	@$(BUILD)/laotie stats --data $(DATA)
	@$(BUILD)/laotie serve --data $(DATA) --listen 127.0.0.1:8080

test: test-fast test-asan

test-fast: build deps-test
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps deps-test
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@scripts/bootstrap.sh bench
	@LAOTIE_BUILD=$(BUILD) bench/run

bench-quick: build
	@scripts/bootstrap.sh bench
	@LAOTIE_BUILD=$(BUILD) bench/run --quick

# longer checks (docs/reliability.md): fuzzing and ThreadSanitizer (both in
# CI, .ci/run: fuzz at FUZZ_TIME=30), the 25-round crash test and the
# 30-minute soak (not in CI)
FUZZ_TIME ?= 30
fuzz:
	@scripts/bootstrap.sh fuzz && fuzz/run.sh --time $(FUZZ_TIME)
tsan: deps
	@scripts/tsan.sh
crash: build
	@python3 tests/crash/crash_test.py --bin $(BUILD)/laotie --rounds 25
soak: build
	@BIN=$(BUILD)/laotie bench/soak.sh 30

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
