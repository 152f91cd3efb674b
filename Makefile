# keypool — convenience targets over CMake presets (CMakePresets.json). The real build is CMake;
# everything here can also be done with `cmake --preset X && cmake --build --preset X && ctest --preset X`.
#
#   make deps        check (and, as root, install) the Debian packages the build needs
#   make test        build tests, examples and benchmarks (build/), run every ctest test
#   make test-tsan   the tests under ThreadSanitizer (build-tsan/)
#   make test-asan   the tests and examples (the gateway suite) under AddressSanitizer + UBSan (build-asan/)
#   make fuzz        build the libFuzzer targets of fuzz/ with clang + ASan + UBSan (build-fuzz/) and
#                    fuzz each for FUZZ_SECONDS (default 20) from its corpus (docs/fuzzing.md)
#   make demo        build and run an example: DEMO=spike_day (default), DEMO=quickstart, …
#   make bench       build and run the benchmarks (build-bench/), extra flags in BENCH_ARGS
#   make bench-peers keypool's hot path against Go's x/time/rate and Guava's RateLimiter doing the
#                    same work, in one run: ns/request and ratios (benchmarks/peers/README.md)
#   make bench-plot  run the selection-policy sweep (BM_Select, 10 to 100,000 keys) and draw it in
#                    docs/img/policies.svg (benchmarks/plot/plot_policies.js)
#   make docs        the API reference from the headers' comments (Doxygen, docs/Doxyfile) in build/docs/html/
#   make clean       remove every build directory
#
# Variables: DEMO, DEMO_ARGS, BENCH_ARGS, PEERS_MIN_TIME (the seconds each benchmark of bench-peers
# measures, default 1), CTEST_ARGS (e.g. CTEST_ARGS='-L unit' or '-R consumer'),
# FUZZ_SECONDS (per fuzz target; e.g. make fuzz FUZZ_SECONDS=600 CTEST_ARGS='-R state_file -j1').
# Every preset builds with KEYPOOL_WARNINGS_AS_ERRORS=ON: a warning fails the build here and in CI.
#
# ctest labels of `make test`: unit, stress, examples, consumer, compile_fail, docs, and bench-smoke:
# one test per benchmark family (bench-smoke.<family>) that runs it for about a millisecond and
# fails on a crash or a benchmark error (state.SkipWithError); it measures nothing. The two peer
# programs of bench-peers are built and run the same way: bench-smoke.peer_go, bench-smoke.peer_guava.
# CTEST_ARGS='-L bench-smoke' runs only those, CTEST_ARGS='-LE bench-smoke' all but those.

# Keep the output of the makes that CMake runs free of "Entering directory" noise.
MAKEFLAGS += --no-print-directory

DEMO       ?= spike_day
DEMO_ARGS  ?=
BENCH_ARGS ?=
CTEST_ARGS ?=
FUZZ_SECONDS ?= 20
PEERS_MIN_TIME ?= 1

# Debian 12 packages: toolchain, Catch2 (tests), Google Benchmark, hiredis + redis-server
# (store::Redis and its tests), cpp-httplib (examples) and nlohmann-json (examples, and the tests that
# parse to_json's output back), Chromium (the headless test of the gateway's dashboard page), clang
# and its sanitizer and libFuzzer runtimes (make fuzz), Node.js and npm (the gateway's test with the
# official OpenAI Node SDK, which npm installs into the build directory), and the peer benchmarks
# of bench-peers (benchmarks/peers/): Go with golang.org/x/time/rate, a JDK with Guava.
PACKAGES := cmake g++ make pkg-config catch2 libbenchmark-dev libhiredis-dev redis-server \
            libcpp-httplib-dev nlohmann-json3-dev chromium clang libclang-rt-14-dev nodejs npm \
            golang-go golang-golang-x-time-dev default-jdk-headless libguava-java

.PHONY: all deps test test-tsan test-asan fuzz demo bench bench-peers bench-plot docs clean

all: test

# Lists the packages of $(PACKAGES) that are not installed; installs them when run as root,
# otherwise says what to run and fails. A package another installed package provides counts as
# installed (e.g. npm, which a nodejs package from another source provides and conflicts with).
deps:
	@missing=""; \
	provided="$$(dpkg-query -W -f='$${Status}|$${Provides}\n' 2>/dev/null | sed -n 's/^install ok installed|//p' \
	  | tr ',' '\n' | sed 's/^ *//; s/ .*//')"; \
	for package in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" \
	    || printf '%s\n' "$$provided" | grep -qx "$$package" \
	    || missing="$$missing $$package"; \
	done; \
	missing="$${missing# }"; \
	if [ -z "$$missing" ]; then \
	  echo "keypool: all build dependencies are installed"; \
	elif [ "$$(id -u)" -eq 0 ]; then \
	  echo "keypool: installing missing packages: $$missing"; \
	  apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
	  echo "keypool: missing packages: $$missing. Install them with: sudo apt-get install -y $$missing"; \
	  exit 1; \
	fi

# --- Tests: configure, build, run (see CMakePresets.json for each preset) -------------------------
test: deps
	cmake --preset dev
	cmake --build --preset dev
	ctest --preset dev $(CTEST_ARGS)

test-tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan
	ctest --preset tsan $(CTEST_ARGS)

test-asan: deps
	cmake --preset asan
	cmake --build --preset asan
	ctest --preset asan $(CTEST_ARGS)

# --- Fuzzing: each libFuzzer target of fuzz/ for FUZZ_SECONDS, one ctest test each (label fuzz) ----
# KEYPOOL_FUZZ_SECONDS is read by the tests at run time (fuzz/run_fuzzer.cmake), so changing
# FUZZ_SECONDS needs no reconfigure. New inputs go to build-fuzz/fuzz/work/, crashes to
# build-fuzz/fuzz/artifacts/; fuzz/corpus/ is only read.
fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz
	KEYPOOL_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --preset fuzz $(CTEST_ARGS)

# --- Demo: one example from examples/$(DEMO)/ -----------------------------------------------------
demo: deps
	cmake --preset dev
	cmake --build --preset dev --target $(DEMO)
	./build/examples/$(DEMO) $(DEMO_ARGS)

# --- Benchmarks: a measurement, not a test ---------------------------------------------------------
bench: deps
	cmake --preset bench
	cmake --build --preset bench
	./build-bench/benchmarks/keypool_bench --benchmark_min_time=0.2 $(BENCH_ARGS)

# keypool's BM_AcquireCommit/keys:10 and the peers of benchmarks/peers/ (built into
# build-bench/benchmarks/peers/), one after the other; fails when a program fails.
bench-peers: deps
	cmake --preset bench
	cmake --build --preset bench --target keypool_bench
	PEERS_MIN_TIME=$(PEERS_MIN_TIME) benchmarks/peers/run.sh build-bench

# The selection-policy sweep (10 to 100,000 keys), then the plot, titled with the commit and the
# date (UTC).
bench-plot: deps
	cmake --preset bench
	cmake --build --preset bench
	./build-bench/benchmarks/keypool_bench --benchmark_filter='^BM_Select<' \
	  --benchmark_min_time=0.2 --benchmark_out=build-bench/policies.json --benchmark_out_format=json $(BENCH_ARGS)
	node benchmarks/plot/plot_policies.js build-bench/policies.json docs/img/policies.svg \
	  --commit "$$(git describe --always --dirty)" --date "$$(date -u +%Y-%m-%d)"

# --- API reference: Doxygen over include/keypool/ (docs/Doxyfile) --------------------------------
# Installs doxygen when missing and run as root (as deps does), otherwise says what to run. Lists the
# doc-comment warnings by file (the whole list is in build/docs/warnings.log); they do not fail it.
docs:
	@if ! command -v doxygen >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    echo "keypool: installing doxygen"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends doxygen; \
	  else \
	    echo "keypool: doxygen is missing. Install it with: sudo apt-get install -y doxygen"; \
	    exit 1; \
	  fi; \
	fi
	@rm -rf build/docs && mkdir -p build/docs
	doxygen docs/Doxyfile
	@warnings=$$(grep -c ': warning: ' build/docs/warnings.log || true); \
	if [ "$$warnings" -gt 0 ]; then \
	  echo "keypool: $$warnings doc-comment warnings (build/docs/warnings.log), by file:"; \
	  sed -n 's|^$(CURDIR)/||; s|^\([^:]*\):[0-9]*: warning: .*|\1|p' build/docs/warnings.log | sort | uniq -c | sort -rn; \
	fi
	@echo "keypool: API reference in build/docs/html/index.html"

clean:
	rm -rf build build-tsan build-asan build-bench build-fuzz
