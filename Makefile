# Set-up, demo and tests. Every target creates or reuses .venv and installs what it needs.
#   make demo              closed loop in the simulated cell: a few picks with ground-truth answers, report.html
#                          (make demo MODEL=tiny|/path/to/checkpoint: the same with a model's answers)
#   make test              run the whole test suite
#   make lint              ruff check, ruff format --check and mypy (.ci/run runs it before the tests)
#   make format            sort imports and format the code with ruff (what make lint checks)
#   make bench-gpu         the model benchmark of the speed targets (random 3B, all modes; needs a GPU)
# Variables: PYTHON (interpreter for the venv), TORCH_SPEC (the torch requirement),
# PIP_TORCH_ARGS (e.g. --index-url of a CUDA or CPU wheel index), MODEL (for demo).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PIP_TORCH_ARGS ?=
MODEL ?=
DEMO_DIR ?= demo_out
STAMP := $(VENV)/.installed
# vla_r1_interfaces built with cmake against the ROS 2 wheels in the venv (ros2_ws/build_interfaces.py)
IFACE_STAMP := $(VENV)/.interfaces
IFACE_SOURCES := $(wildcard ros2_ws/src/vla_r1_interfaces/*/*.msg ros2_ws/src/vla_r1_interfaces/*/*.action) \
  ros2_ws/src/vla_r1_interfaces/CMakeLists.txt ros2_ws/src/vla_r1_interfaces/package.xml \
  ros2_ws/build_interfaces.py ros2_ws/cmake/wheel_python_includes.cmake

.PHONY: setup demo test bench bench-gpu clean sysdeps
.PHONY: lint format

setup: $(STAMP) $(IFACE_STAMP)

# pyrealsense2 links against libusb; install it when we may (root), otherwise say what is missing.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing libusb-1.0-0 (needed by pyrealsense2)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null; \
	  else \
	    echo ">> warning: libusb-1.0-0 is missing; RealSense tests will be skipped (sudo apt-get install libusb-1.0-0)"; \
	  fi; \
	fi

$(STAMP): pyproject.toml constraints.txt | sysdeps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	# torch first, so nothing below can pull a CUDA build on a CPU machine
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(PIP_TORCH_ARGS)
	$(PY) -m pip install -q -c constraints.txt -e ".[realsense,sim,train,dev,ros]"
	touch $(STAMP)

$(IFACE_STAMP): $(STAMP) $(IFACE_SOURCES)
	$(PY) ros2_ws/build_interfaces.py
	touch $(IFACE_STAMP)

test: $(STAMP) $(IFACE_STAMP)
	$(PY) -m pytest -q

# All three run, so one call shows every finding; any finding fails the target. Settings: pyproject.toml.
lint: $(STAMP)
	status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

format: $(STAMP)
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

# The closed loop in the simulated cell: render -> answer -> ground -> plan -> execute -> judge. Each
# demo writes a new $(DEMO_DIR)/run-<time> folder and then points $(DEMO_DIR)/latest at it.
demo: $(STAMP)
	$(VENV)/bin/vla-r1 sim demo --out-root $(DEMO_DIR) \
	  $(if $(MODEL),--policy model --model $(MODEL) --max-new-tokens 512,--policy ground-truth)

bench: $(STAMP)
	$(VENV)/bin/vla-r1 bench model --model tiny --json out/bench_model.json --markdown out/bench_model.md

# With a CUDA torch: make bench-gpu TORCH_SPEC=torch==2.13.0 PIP_TORCH_ARGS="--index-url https://download.pytorch.org/whl/cu128"
bench-gpu: $(STAMP)
	$(VENV)/bin/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'bench-gpu needs a CUDA GPU and a CUDA build of torch')"
	$(VENV)/bin/vla-r1 bench model --random-3b --quantization none nf4 int8 nf4+vision --new-tokens 256 \
	  --json out/bench_model_gpu.json --markdown out/bench_model_gpu.md

clean:
	rm -rf $(VENV) out demo_out .pytest_cache
