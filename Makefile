# seqlab: `make run` installs, builds and runs the showcase; `make test` installs, builds and tests.
BUILD ?= build
BUILD_TYPE ?= Release
MARCH ?= native
JOBS ?= $(shell nproc)
THREADS ?= $(JOBS)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench format clean

all: build

deps:
	bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSEQLAB_MARCH=$(MARCH) $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/seqlab showcase --out showcase --threads $(THREADS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/seqlab bench --threads $(THREADS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
