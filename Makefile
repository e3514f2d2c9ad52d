# The two commands of the README, plus benchmarks. Numeric code is far too slow in debug
# builds, so everything here builds release; tests need -enable-testing for @testable imports.
SHELL := /bin/bash
SWIFT_FLAGS := -c release -Xswiftc -enable-testing

.PHONY: demo test deps build bench bench-compare

deps:
	@./Scripts/install-deps.sh

build: deps
	swift build $(SWIFT_FLAGS) --product rlhf

demo: build
	.build/release/rlhf demo

# XCTest only (there are no swift-testing tests); the last line is "N passed, M failed".
# The tests run the OpenBLAS kernels rlhf runs. On a CPU Debian's OpenBLAS does not place, rlhf
# starts again with OPENBLAS_CORETYPE set (Sources/Tensors/OpenBLASCore.swift); a test process
# cannot, so it is given the kernels rlhf names in its first line of `bench gemm`. Without this the
# tests ran the generic Prescott kernels on such a CPU, where the core-count tests of BLASTests
# pass even with the SkylakeX small-matrix guard removed (2026-12-06). A set OPENBLAS_CORETYPE is kept
# (an empty one leaves the choice to OpenBLAS).
test: deps
	swift build $(SWIFT_FLAGS) --build-tests
	set -o pipefail; core=$${OPENBLAS_CORETYPE-$$(.build/release/rlhf bench gemm --seconds 0.001 2>/dev/null | sed -n '1s/^.*kernels: //p')}; \
	  echo "tests run OpenBLAS's $${core:-own choice of} kernels"; \
	  $${core:+env OPENBLAS_CORETYPE=$$core} swift test $(SWIFT_FLAGS) --skip-build --disable-swift-testing 2>&1 | tee .build/test.log
	@grep -E "Executed [0-9]+ tests?, with" .build/test.log | tail -1 | awk '{ n=$$2; s=0; f=0; \
	  for (i=1; i<=NF; i++) { if ($$i ~ /^skipped/) s=$$(i-2); if ($$i ~ /^failure/) f=$$(i-1) } \
	  printf "%d passed, %d failed, %d skipped\n", n-f-s, f, s }'

bench: build
	.build/release/rlhf bench gemm
	.build/release/rlhf bench kernels

# swift-rlhf beside transformers and a nanoGPT-style PyTorch model, one table (Scripts/bench/compare.sh).
# make bench-compare PYTHON=/work/venv/bin/python BENCH_ARGS="tiny 16 128 1024" [ROUNDS=3: training rounds, medians]
#   [LANES=2: also swift-rlhf as N micro-batches side by side; 1 leaves it out] [RLHF_BIN=path: a binary built elsewhere]
PYTHON ?= .venv/bin/python
BENCH_ARGS ?= gpt2 4 64
bench-compare: deps
	PYTHON=$(PYTHON) Scripts/bench/compare.sh $(BENCH_ARGS)
