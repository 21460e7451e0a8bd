# Two commands do everything: `make demo` and `make test`. Both create .venv when missing and install once;
# the install is re-run only when setup.py or settings.ini change (the stamp file below), so it takes seconds.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ktvit-installed
# torch first, pinned to the CPU wheel (a range would pull a multi-GB CUDA build); the rest is constrained by it.
TORCH ?= torch==2.13.0

.PHONY: install demo test sync readme docs outputs clean
install: $(STAMP)

$(STAMP): setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24" wheel "setuptools<81"
	$(BIN)/python -m pip install -q "$(TORCH)" "torchvision==0.28.0"
	$(BIN)/python -m pip freeze | grep -iE '^(torch|torchvision)==' > $(VENV)/torch-constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/torch-constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The main job on the embedded synthetic default.
demo: install
	$(BIN)/ktvit demo $(DEMO_ARGS)

# Library in sync with the notebooks, notebooks clean, then every notebook and the pytest suite.
test: install
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python -m pytest -q -p no:napari tests

# Clean the notebooks, then regenerate the library from them (run before committing).
sync: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	$(BIN)/python -c "from ktvit_nb.docs import write_readme; write_readme()"

# Keep the outputs (figures, tables) of the chapters a reader on the forge should see, run as nbdev_test runs them
# (docs_site.save_outputs; tests/test_outputs.py checks that they are not stale).
OUTPUT_NBS ?= nbs/00_core.ipynb nbs/00a_config.ipynb nbs/01_data.synth.ipynb nbs/01a_data.io.ipynb nbs/01ba_data.preprocess.ipynb \
	nbs/01bb_data.cases.ipynb nbs/01bc_data.splits.ipynb nbs/01bd_data.patches.ipynb nbs/01be_data.synth_dataset.ipynb \
	nbs/01bf_data.render.ipynb nbs/01bg_data.summary.ipynb nbs/01bh_data.tre.ipynb nbs/01d_data.brainmask.ipynb \
	nbs/02_models.blocks.ipynb nbs/02a_models.ktvit.ipynb nbs/02b_models.baselines.ipynb nbs/02c_models.factory.ipynb \
	nbs/03_losses.ipynb nbs/04_metrics.ipynb nbs/04b_checkpoint.ipynb nbs/04c_viz.ipynb nbs/04d_napari.ipynb \
	nbs/05_callback.kt.ipynb nbs/05a_learner.ipynb nbs/06_infer.ipynb nbs/10_demo.ipynb nbs/11_bench.ipynb \
	nbs/12_study.ipynb nbs/13_cli.ipynb nbs/90_tutorial.kt.ipynb nbs/91_tutorial.drive.ipynb nbs/92_tutorial.vesselnn.ipynb \
	nbs/93_tutorial.ablation.ipynb nbs/94_tutorial.study.ipynb nbs/95_tutorial.brain.ipynb
outputs: install
	$(BIN)/python -c "import sys; from ktvit_nb.docs_site import save_outputs; e = sum((save_outputs(p) for p in sys.argv[1:]), []); print(*e, sep='\n'); sys.exit(bool(e))" $(OUTPUT_NBS)

# README.md from nbs/index.ipynb without Quarto (with Quarto, nbdev_readme does the same).
readme: install
	$(BIN)/python -c "from ktvit_nb.docs import write_readme; write_readme()"

clean:
	rm -rf _docs _proc site .pytest_cache

# Static docs site in site/ without Quarto: nbdev's processors with every notebook run (slow cells skipped), then
# MkDocs + Material (nbs/mkdocs.yml); serve with `python -m http.server -d site`. With Quarto, nbdev_docs builds _docs/.
docs: install
	$(BIN)/python -c "from ktvit_nb.docs_site import build_site; build_site()"
