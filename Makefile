# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: demo test bench data clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.extras: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e '.[extras]'
	touch $@

$(VENV)/.test: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e '.[test]'
	touch $@

# Fashion-MNIST from Debian's package when we are root and apt exists; otherwise say how.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST found in /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	    || echo "could not install dataset-fashion-mnist with apt"; \
	else \
	  echo "Fashion-MNIST is not installed: install the Debian package dataset-fashion-mnist,"; \
	  echo "or pass --data-dir DIR holding the four IDX .gz files."; \
	fi

demo: $(VENV)/.extras data
	$(PY) -m dlbasic.demo

# The parity suite runs a second time on PyTorch's portable (non-SIMD) kernels (a test tied to
# one CPU's float32 bits fails here instead of on someone else's machine), and a third time on
# dlbasic's NumPy reference kernels (the first run uses the compiled ones).
test: $(VENV)/.test data
	$(PY) -m pytest -q
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -q -p no:cacheprovider tests/parity
	DLBASIC_KERNELS=numpy $(PY) -m pytest -q -p no:cacheprovider tests/parity \
	  tests/unit/test_gradcheck_conv_pool_bn.py

bench: $(VENV)/.test data
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
