# The two commands of the README, plus benchmarks. Numeric code is far too slow in debug
# builds, so everything here builds release; tests need -enable-testing for @testable imports.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing

.PHONY: demo test deps build bench

deps:
	@./Scripts/install-deps.sh

build: deps
	swift build $(SWIFT_FLAGS) --product rlhf

demo: build
	.build/release/rlhf demo

test: deps
	swift build $(SWIFT_FLAGS) --build-tests
	swift test $(SWIFT_FLAGS) --skip-build

bench: build
	.build/release/rlhf bench gemm
	.build/release/rlhf bench kernels
