# rdpbench tasks. PYTHON can point at a virtualenv's interpreter.
PYTHON ?= python3
RESULTS ?= results
ANCHOR ?= resample_jpeg
SHARED ?= $(abspath ../shared/datasets)

.PHONY: train-ultralow train-ultralow-gpu train-mini-ldm train-mini-ldm-gpu train-sprdiff train-hdcompression setup setup-system run test bench fuzz bd-rate plots report regress baselines published weights clean

setup-system:  ## Debian packages for the command-line codecs and report rendering (needs root)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  ffmpeg aom-tools x265 svt-av1 libjxl-tools libavif-bin webp libheif-examples libopenjp2-tools chromium

# MS-ILLM: neuralcompression's metadata pins scipy<=1.11.1 and video packages its image models
# never import, so it is installed without dependencies (what it needs is listed explicitly).
setup:  ## Python packages (torch from the pinned local wheels, then rdpbench with every extra)
	$(PYTHON) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PYTHON) -m pip install -q -e ".[all,test]" -c requirements/constraints.txt
	$(PYTHON) -m pip install -q --no-deps neuralcompression==0.3.1 fvcore==0.1.5.post20221221 iopath==0.1.10 \
	  yacs==0.1.8 portalocker==4.4.2 termcolor==3.3.0

run:  ## The main job on the offline default: the generative suite on the shipped sample, table and RD plot
	$(PYTHON) run.py codec=generative dataset=sample metrics=pixel_realism workers=2 results_dir=$(RESULTS)
	$(PYTHON) -m rdpbench.reports.cli plots --results $(RESULTS)

test:
	$(PYTHON) -m pytest -q

bench:  ## Speed/overhead benchmarks; results recorded under benchmarks/results/
	RDPBENCH_DATA_ROOT=$${RDPBENCH_DATA_ROOT:-$(SHARED)} $(PYTHON) benchmarks/run_all.py

FUZZ_STREAMS ?= 10000
FUZZ_ARGS ?=
fuzz:  ## Decode FUZZ_STREAMS mutated streams (each twice) over every codec that runs here; FUZZ_ARGS="--check-bytes 0"
	$(PYTHON) -m rdpbench.fuzz --streams $(FUZZ_STREAMS) $(FUZZ_ARGS)

bd-rate:
	$(PYTHON) -m rdpbench.reports.cli bd-rate --results $(RESULTS) --anchor "$(ANCHOR)"

plots:
	$(PYTHON) -m rdpbench.reports.cli plots --results $(RESULTS)

report:
	$(PYTHON) -m rdpbench.reports.cli report --results $(RESULTS) --anchor "$(ANCHOR)"

regress:  ## Recompute the RD baselines and fail on drift beyond tolerance
	$(PYTHON) -m rdpbench.reports.cli regress

baselines:  ## Re-record the RD baselines on purpose
	$(PYTHON) -m rdpbench.reports.cli baselines

published:  ## Re-convert the published RD points in ../shared/anchors/published into results/published
	$(PYTHON) -m rdpbench.reports.cli convert-published --dest results/published

train-ultralow:  ## Retrain the shipped ultra-low-rate model on CPU (~30-60 min on 2 cores)
	$(PYTHON) train.py

train-ultralow-gpu:  ## The full-size training recipe, on a GPU
	$(PYTHON) train.py --config-name gpu_full

train-mini-ldm:  ## Retrain the shipped mini-ldm (autoencoder + unconditional UNet) on CPU (< 90 min, resumable)
	$(PYTHON) train_ldm.py

train-mini-ldm-gpu:  ## The larger mini-ldm recipe (~10 min of one H100/H200)
	$(PYTHON) train_ldm.py --config-name mini_ldm_gpu

train-sprdiff:  ## Retrain the shipped sprdiff replica on CPU (< 90 min, resumable)
	$(PYTHON) train_sprdiff.py

train-hdcompression:  ## Retrain the shipped hdcompression replica on CPU (4 stages, < 2 h, each resumable)
	$(PYTHON) train_hdcompression.py

weights:  ## Fetch every model weight the configured metrics and codecs need (needs network)
	$(PYTHON) -m rdpbench.weights_cli fetch

clean:
	rm -rf $(RESULTS)/rows $(RESULTS)/streams $(RESULTS)/recon $(RESULTS)/failures $(RESULTS)/dataset_metrics \
	  $(RESULTS)/metrics $(RESULTS)/_hydra
