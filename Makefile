# yof-darknet: every target bootstraps .venv itself on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
YOF    := $(BIN)/yof-darknet
STAMP  := $(VENV)/.installed
# OpenCV 5 beside the package's own OpenCV 4: the tests check that ONNX Runtime detection works
# with OpenCV 5 (which has no Darknet importer); the package comes from .venv.
CV5       := .venv-cv5
CV5_STAMP := $(CV5)/.installed
# ONNX Runtime Web for `yof-darknet serve`: the npm package pinned in WEB/package-lock.json,
# its page's files copied into WEB/vendor/ (git-ignored, shipped as package data).
WEB       := yof_darknet/serve/web
WEB_STAMP := $(WEB)/vendor/onnxruntime-web/version.json

# Dataset locations (empty = the embedded sample) and the output of `make datasets`.
# AFFECTNET= (original release) and RAFDB= (RAF-DB basic) join EXPW=/AFFWILD2= in any
# combination; IMAGES= + LABELS= (a CSV or a YOLO names file) add your own labelled photos,
# CLASSES= your own class list for them (a detector of other classes).
EXPW      ?=
AFFWILD2  ?=
AFFECTNET ?=
RAFDB     ?=
IMAGES    ?=
LABELS    ?=
CLASSES   ?=
DATA      ?= data/darknet
# every dataset given, as `datasets` and `reproduce` take them
DATASET_FLAGS = $(if $(EXPW),--expw $(EXPW)) $(if $(AFFWILD2),--affwild2 $(AFFWILD2)) \
	$(if $(AFFECTNET),--affectnet $(AFFECTNET)) $(if $(RAFDB),--rafdb $(RAFDB)) \
	$(if $(IMAGES),--images $(IMAGES)) $(if $(LABELS),--labels $(LABELS)) \
	$(if $(CLASSES),--classes $(CLASSES))
STILL_DATASETS = $(strip $(EXPW)$(AFFECTNET)$(RAFDB)$(IMAGES))
# `make cross`: the run folders (or weights files) scored on every held-out set of DATA=
CROSS   ?=
MAP_OUT ?=

# Darknet stage: the binary (empty = found by yof-darknet), network, training profile and run
# name; GPUS=0,1 trains on several GPUs (schedule adjusted: docs/guides/training.md); FROM_SCRATCH=1 lets
# `make reproduce` train the paper profile without the pretrained weights.
# MODEL_ARCH= is `--arch` (yolov3-tiny, the paper's; yolov3-tiny-3l, yolov4-tiny, yolov4-tiny-3l,
# yolov7-tiny). It is not called ARCH because make hands command-line variables down to every
# sub-make, and darknet's own Makefile (`make darknet`) uses ARCH= for CUDA's -gencode flags.
DARKNET      ?=
MODEL_ARCH   ?= yolov3-tiny
PROFILE      ?= paper
RUN          ?=
RESUME       ?=
CUT_yolov3-tiny    = yolov3-tiny.conv.15
CUT_yolov3-tiny-3l = yolov3-tiny.conv.15
CUT_yolov4-tiny    = yolov4-tiny.conv.29
CUT_yolov4-tiny-3l = yolov4-tiny.conv.29
CUT_yolov7-tiny    = yolov7-tiny.conv.87
ARCH_CUT      = weights/$(CUT_$(MODEL_ARCH))
# the cpu profile trains from scratch by design (as `reproduce` does for it)
PRETRAINED   ?= $(if $(filter cpu,$(PROFILE)),,$(ARCH_CUT))
GPUS         ?=
FROM_SCRATCH ?=
ifeq ($(CUT_$(MODEL_ARCH)),)
$(error MODEL_ARCH=$(MODEL_ARCH): choose yolov3-tiny, yolov3-tiny-3l, yolov4-tiny, yolov4-tiny-3l or yolov7-tiny)
endif
ifneq ($(CUT_$(ARCH)),)
$(error ARCH=$(ARCH) is darknet's CUDA flag (in DARKNET_FLAGS); choose the network with MODEL_ARCH=$(ARCH))
endif
# runs/PROFILE for the paper's network, runs/PROFILE-ARCH for another (as `train` names them)
ARCH_SUFFIX = $(if $(filter yolov3-tiny,$(MODEL_ARCH)),,-$(MODEL_ARCH))

# More options of a stage, as its command takes them; `make reproduce` passes all three:
#   DATASETS_ARGS="--videos-list videos.txt --face-max-side 320"  (datasets, reproduce)
#   TRAIN_ARGS="--set width=320 --max-batches 2000"                 (train, reproduce)
#   MAP_ARGS="--points 11 --match-iou 0.5"                            (map, reproduce)
DATASETS_ARGS ?=
TRAIN_ARGS    ?=
MAP_ARGS      ?=

# Evaluation (`make map`): WEIGHTS= overrides runs/RUN/weights/MODEL_ARCH_final.weights and
# CFG= runs/RUN/MODEL_ARCH.cfg; ENGINE=opencv scores OpenCV DNN detections (no darknet);
# POINTS=0|11|101, IOU=0.5.
WEIGHTS ?=
CFG     ?=
ENGINE  ?=
POINTS  ?=
IOU     ?=
RUN_DIR  = runs/$(or $(RUN),$(PROFILE)$(ARCH_SUFFIX))

# Demo (`make demo`): `detect` with the model of runs/DEMO_RUN (made by `make reproduce`) on
# DEMO_SOURCE (an image list, folder, image, video, camera index or stream URL); WEIGHTS=/CFG=
# override the model.
DEMO_RUN    ?= $(or $(RUN),sample$(ARCH_SUFFIX))
DEMO_SOURCE ?= data/sample-darknet/test.txt
DEMO_DIR     = runs/$(DEMO_RUN)
DEMO_OUT    ?= $(DEMO_DIR)/demo
DEMO_MODEL   = $(or $(WEIGHTS),$(DEMO_DIR)/weights/$(MODEL_ARCH)_final.weights)
DEMO_CFG     = $(or $(CFG),$(DEMO_DIR)/$(MODEL_ARCH).cfg)

.PHONY: setup install uninstall docs results test lint format datasets bench ensure-darknet darknet gpu-check weights train map cross reproduce hygiene control demo compare compare-archs compare-ultralytics slurm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,docs]'
	touch $(STAMP)

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json | $(STAMP)
	$(BIN)/python -m yof_darknet.serve.runtime
	touch $(WEB_STAMP)

$(CV5_STAMP): $(STAMP)
	test -x $(CV5)/bin/python || $(PYTHON) -m venv $(CV5)
	$(CV5)/bin/python -m pip install -q "opencv-python-headless>=5,<6" \
		"numpy==$$($(BIN)/python -c 'import numpy; print(numpy.__version__)')"
	touch $(CV5_STAMP)

setup: $(STAMP) $(WEB_STAMP) ## create .venv and install the package (editable) with the dev and docs tools, and ONNX Runtime Web (npm) for `serve`

# `make install`: yof-darknet on PATH in every shell, as a link to .venv's command (the link
# runs the project's .venv; nothing to activate). BINDIR= elsewhere.
BINDIR ?= $(HOME)/.local/bin

install: $(STAMP) ## link yof-darknet into BINDIR= (default ~/.local/bin), so every shell finds it
	@BINDIR='$(BINDIR)' TARGET='$(abspath $(YOF))' scripts/install-link.sh install

uninstall: ## remove the link `make install` made (only a link to this project's .venv)
	@BINDIR='$(BINDIR)' TARGET='$(abspath $(YOF))' scripts/install-link.sh uninstall

# never --quiet: it hides the warnings that --strict counts
docs: $(STAMP) ## build the documentation site into site/ (mkdocs --strict: a broken link fails)
	$(BIN)/python scripts/results.py render --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

results: $(STAMP) ## write docs/results.md and the README's Table II from the records in results/
	$(BIN)/python scripts/results.py render

test: $(STAMP) $(WEB_STAMP) $(CV5_STAMP) ensure-darknet ## make lint (ruff, mypy) + the whole test suite (uses Debian's darknet when installed) + the docs site
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory docs

lint: $(STAMP) ## ruff check, ruff format --check and mypy (the types of yof_darknet/: [tool.mypy] in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## ruff: fix what it can and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

datasets: $(STAMP) ## convert EXPW=, AFFWILD2=, AFFECTNET=, RAFDB=, IMAGES= + LABELS= (any of them) into the Darknet layout in DATA=
	$(YOF) datasets $(DATASET_FLAGS) --out $(DATA) $(DATASETS_ARGS)

ensure-darknet: ## use the darknet found (DARKNET=, third_party/darknet, PATH), else build the submodule, else apt-get install darknet
	@DARKNET='$(DARKNET)' scripts/ensure-darknet.sh

darknet: ## fetch third_party/darknet (AlexeyAB, pinned) and build it for this machine (DARKNET_FLAGS= overrides)
	$(if $(DARKNET_FLAGS),DARKNET_FLAGS='$(DARKNET_FLAGS)') scripts/build-darknet.sh

weights: $(ARCH_CUT) ## download MODEL_ARCH's COCO weights (sha256-checked) and cut its pretrained layers (yolov3-tiny.conv.15)

$(ARCH_CUT): | $(STAMP)
	$(YOF) weights --out weights --arch $(MODEL_ARCH)

train: $(STAMP) $(if $(RESUME),,$(PRETRAINED)) ## train MODEL_ARCH= on DATA= with PROFILE= into runs/RUN (RESUME=1 continues, PRETRAINED= from scratch)
	$(YOF) train --data $(DATA)/obj.data $(if $(RESUME),,--profile $(PROFILE) --arch $(MODEL_ARCH)) \
		--name $(or $(RUN),$(PROFILE)$(ARCH_SUFFIX)) \
		$(if $(DARKNET),--darknet $(DARKNET)) $(if $(GPUS),--gpus $(GPUS)) \
		$(if $(RESUME),--resume,$(if $(PRETRAINED),--weights $(PRETRAINED))) $(TRAIN_ARGS)

map: $(STAMP) ## Table II of runs/RUN (vs the paper) into runs/RUN/map: table2.{md,csv,json}, plots
	$(YOF) map --data $(DATA)/obj.data \
		--weights $(or $(WEIGHTS),$(RUN_DIR)/weights/$(MODEL_ARCH)_final.weights) \
		--cfg $(or $(CFG),$(RUN_DIR)/$(MODEL_ARCH).cfg) \
		--out $(RUN_DIR)/map $(if $(DARKNET),--darknet $(DARKNET)) $(if $(ENGINE),--engine $(ENGINE)) \
		$(if $(POINTS),--points $(POINTS)) $(if $(IOU),--match-iou $(IOU)) $(MAP_ARGS)

gpu-check: $(STAMP) ## on a GPU machine: build AlexeyAB with CUDA+cuDNN, train the sample with -map, print it/s, mAP, FPS; EXPW=DIR adds real data (paper profile, ~8 min: Table II, face AP, s/iteration)
	$(if $(EXPW),EXPW='$(EXPW)') scripts/gpu-check.sh

bench: $(STAMP) $(WEB_STAMP) ## throughput benchmarks (ratios and rates, printed; never asserted in tests); bench_engines is `yof-darknet benchmark`
	$(BIN)/python -m benchmarks

# What `make reproduce` trains, and so what control, hygiene and compare train the same way
# (RUN= is added by each target: RUN, RUN-control...). REPEATS=N: `make hygiene` trains each
# mode N times (the run-to-run spread).
SAME_RUN = $(DATASET_FLAGS) \
	$(if $(filter command line environment,$(origin PROFILE)),--profile $(PROFILE)) \
	--arch $(MODEL_ARCH) $(if $(DARKNET),--darknet $(DARKNET)) \
	$(if $(GPUS),--gpus $(GPUS)) $(if $(FROM_SCRATCH),--from-scratch) $(DATASETS_ARGS) $(TRAIN_ARGS)
REPEATS ?= 1

reproduce: $(STAMP) ensure-darknet ## the whole pipeline: EXPW=/AFFWILD2=/AFFECTNET=/RAFDB=/IMAGES=+LABELS= (none: the embedded sample), PROFILE=, RUN=, GPUS=, *_ARGS=
	$(YOF) doctor $(if $(DARKNET),--darknet $(DARKNET)) $(if $(STILL_DATASETS),$(if $(AFFWILD2),,--no-affwild2))
	$(YOF) reproduce $(SAME_RUN) $(if $(RUN),--run $(RUN)) $(MAP_ARGS)

cross: $(STAMP) ## cross-dataset table: each model of CROSS="runs/a runs/b" on every held-out set of DATA= into MAP_OUT= (default runs/cross)
	@test -n "$(CROSS)" || { echo "cross: give CROSS=\"runs/A runs/B\" (run folders or weights files)"; exit 1; }
	$(YOF) map --data $(DATA)/obj.data $(foreach run,$(CROSS),--cross $(run)) --out $(or $(MAP_OUT),runs/cross) \
		$(if $(DARKNET),--darknet $(DARKNET)) $(if $(ENGINE),--engine $(ENGINE)) \
		$(if $(POINTS),--points $(POINTS)) $(if $(IOU),--match-iou $(IOU)) $(MAP_ARGS)

hygiene: $(STAMP) ensure-darknet ## --unannotated keep vs mask trained as make reproduce does (same EXPW=/PROFILE=...), REPEATS= runs each, side by side on the raw test list
	$(YOF) hygiene $(SAME_RUN) $(if $(RUN),--run $(RUN)) --repeats $(REPEATS) $(MAP_ARGS)

control: $(STAMP) ensure-darknet ## the permuted-label control of make reproduce's run (same EXPW=/PROFILE=...) in runs/RUN-control, set beside it with the mAP ratio
	$(YOF) reproduce --shuffle-labels $(SAME_RUN) $(if $(RUN),--run $(RUN)-control) $(MAP_ARGS)

demo: $(STAMP) ## detect on DEMO_SOURCE= with runs/DEMO_RUN's model: annotated images + JSON in runs/DEMO_RUN/demo
	@for f in $(DEMO_MODEL) $(DEMO_CFG); do test -f $$f || { \
		echo "demo: $$f is missing: run 'make reproduce' first (or make train RUN=$(DEMO_RUN))"; exit 1; }; done
	@case '$(DEMO_SOURCE)' in *://*) ;; *[!0-9]*|'') test -e '$(DEMO_SOURCE)' || { \
		if [ '$(origin DEMO_SOURCE)' = file ]; then echo "demo: $(DEMO_SOURCE) is missing: run 'make reproduce' first (it writes the sample's test list)"; \
		else echo "demo: DEMO_SOURCE=$(DEMO_SOURCE): no such file or folder (give an image, a folder, an image list, a video, a camera index such as 0 or a stream URL)"; fi; \
		exit 1; } ;; esac
	$(YOF) detect $(DEMO_SOURCE) --weights $(DEMO_MODEL) --cfg $(DEMO_CFG) \
		--save $(DEMO_OUT)/annotated --json $(DEMO_OUT)/detections.jsonl

SHARDS ?= 16

slurm: $(STAMP) ## submit the SLURM chain: AFFWILD2= in SHARDS= array tasks → merge (+ EXPW=) into DATA= → train PROFILE=/RUN=
	@test -n "$(AFFWILD2)" || { echo "slurm: give AFFWILD2=/path/to/Aff-Wild2 (and EXPW=)"; exit 1; }
	AFFWILD2='$(abspath $(AFFWILD2))' $(if $(EXPW),EXPW='$(abspath $(EXPW))') OUT='$(abspath $(DATA))' \
		YOF='$(abspath $(YOF))' PROFILE='$(PROFILE)' MODEL_ARCH='$(MODEL_ARCH)' $(if $(RUN),RUN='$(RUN)') \
		scripts/slurm/submit.sh --shards $(SHARDS)

compare: $(STAMP) ensure-darknet ## single-stage vs cascade (RetinaFace + classifier): AP, mAP, FPS; trains both as make reproduce does (same EXPW=/PROFILE=...; none: the sample)
	$(YOF) compare $(SAME_RUN) $(if $(RUN),--run $(RUN))

# Ultralytics beside them (`make compare-ultralytics`; the optional, AGPL-3.0 extra:
# .venv/bin/pip install -e '.[ultralytics]'). ULTRA_MODEL=yolo26n.pt starts from COCO weights
# (Ultralytics downloads them); yolo26n.yaml (or yolov8n.yaml...) from scratch, offline.
# YOLO_OFFLINE=1: Ultralytics neither checks for updates nor sends usage data (a machine
# without internet would wait on each); a weights file it must download is still fetched.
ULTRA_MODEL  ?= yolo26n.pt
ULTRA_EPOCHS ?= 100
ULTRA_IMGSZ  ?= 416
ULTRA_ARGS   ?=
ULTRA_SAMPLE  = $(if $(STILL_DATASETS)$(AFFWILD2),,1)
ULTRA_DATA    = $(if $(ULTRA_SAMPLE),data/sample-darknet,$(DATA))
ULTRA_RUN     = $(or $(RUN),$(if $(ULTRA_SAMPLE),sample,$(PROFILE))$(ARCH_SUFFIX))-ultralytics
ULTRA_ONNX    = runs/$(ULTRA_RUN)/weights/best.onnx
YOLO          = YOLO_OFFLINE=1 $(BIN)/yolo

compare-ultralytics: $(STAMP) ensure-darknet ## make compare, plus an Ultralytics model (ULTRA_MODEL=, ULTRA_EPOCHS=, ULTRA_IMGSZ=, ULTRA_ARGS=) trained on the same data's ultralytics.yaml, as a third column
	@$(BIN)/python -c 'import ultralytics' 2>/dev/null || { echo "compare-ultralytics: ultralytics is not installed: $(BIN)/pip install -e '.[ultralytics]' (AGPL-3.0, optional)"; exit 1; }
	$(YOF) compare $(SAME_RUN) $(if $(RUN),--run $(RUN))
	@test -f $(ULTRA_DATA)/ultralytics.yaml || { echo "compare-ultralytics: $(ULTRA_DATA)/ultralytics.yaml is missing: convert the data again with a validation list (datasets --val-per-dataset N)"; exit 1; }
	test -f $(ULTRA_ONNX) || { $(YOLO) train data=$(abspath $(ULTRA_DATA))/ultralytics.yaml \
		model=$(ULTRA_MODEL) epochs=$(ULTRA_EPOCHS) imgsz=$(ULTRA_IMGSZ) project=$(abspath runs) \
		name=$(ULTRA_RUN) exist_ok=True $(ULTRA_ARGS) || { echo "compare-ultralytics: Ultralytics \
		could not train ULTRA_MODEL=$(ULTRA_MODEL) (above); without internet its COCO weights cannot \
		be downloaded: give a local .pt file, or ULTRA_MODEL=yolo26n.yaml to train from scratch"; \
		exit 1; } && \
		$(YOLO) export model=runs/$(ULTRA_RUN)/weights/best.pt format=onnx imgsz=$(ULTRA_IMGSZ); }
	$(YOF) compare $(SAME_RUN) $(if $(RUN),--run $(RUN)) --ultralytics $(ULTRA_ONNX)

compare-archs: $(STAMP) ## one row per --arch: parameters, BFLOPs at 416, CPU FPS per engine, mAP of trained runs/PROFILE-ARCH on DATA=
	$(YOF) compare-archs --profile $(PROFILE) $(if $(wildcard $(DATA)/obj.data),--data $(DATA)/obj.data) \
		$(COMPARE_ARGS)
