# attnopt: `make run` sets everything up and runs the default experiment; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
SCALE  ?= full
# Where a local wheel directory exists (this project's machines keep the CPU torch there), let pip
# see it; constraints.txt pins the torch that lies there, so no multi-GB CUDA build is downloaded.
PIP_LOCAL := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)

.PHONY: install run test bench gpu-check clean-venv help

help:
	@echo "make run  [ARGS='optimizer=gd landscape=sphere']   set up .venv and run the default experiment"
	@echo "make test [ARGS='tests/test_cli.py']                run the test suite (or part of it)"
	@echo "make bench [SCALE=small]                            attention-search speed ratios; CLI and sweep overhead"
	@echo "make gpu-check                                      on a CUDA machine: the GPU tests and GPU timings (~2 min)"
	@echo "Report targets take SCALE=full (default: the report's sizes) or SCALE=small (minutes):"
	@echo "  make table1 fig1        Table 1 / Figure 1 + runtime ECDF (full: ~2.5 min on 2 cores)"
	@echo "  make table4 fig5 fig4   hybrids on the trapped landscape (full: ~3 min)"
	@echo "  make table2 fig2 fig3 table3   ML tasks and learning-rate search"
	@echo "  make compare            outside baselines (small: 315 runs, ~1.5 min; full: 2,100 runs, ~36 min; JOBS=2)"
	@echo "  make tune ARGS='--opts cma hybrid_cma ...'   how the compare grid's defaults were chosen (scripts/tune_opt.py)"
	@echo "  make fig6 fig7 l2l      learned optimizers (small: ~2.5 min; full: fig6 fig7 ~22 h on 2 CPU cores)"
	@echo "  make l2l-cost           what fig6 fig7 would cost here, timed on slices (full: ~3 min)"
	@echo "  make l2l-bench          meta-training speed, LSTM vs attention model (< 1 min)"
	@echo "  make report             every table and figure above except compare and fig6 fig7 l2l"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_LOCAL) -c constraints.txt -e ".[test,launchers,baselines]"
	touch $(STAMP)

install: $(STAMP)

# make bench also needs the optional [bench] extra (numba, for the compiled-step ceiling)
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_LOCAL) -c constraints.txt -e ".[test,launchers,baselines,bench]"
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(BIN)/attnopt run $(ARGS)

# pytest exits 5 when it collected no test (a typo in ARGS, a missing tests/): say so and fail with 1,
# so nothing downstream mistakes it for another outcome.
test: $(STAMP)
	@$(BIN)/python -m pytest -q $(ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest collected no tests (check ARGS)" >&2; exit 1; fi; exit $$code

# make bench [SCALE=small] [BENCH_ARGS="--skip-table1 --skip-heavy"]: attention-search speed, then the
# CLI's start-up and sweep overhead against issue 13's goals (outputs/bench/overhead.md); SCALE=full
# includes a full `make table1` (minutes), SCALE=small its small preset, SCALE=small,full both.
# Last, `attnopt report` over 1,000 runs (SCALE=small: 300) against issue 15's 30 s
# (outputs/bench/report.md).
bench: $(BENCH_STAMP)
	$(BIN)/python scripts/bench_attention.py $(ARGS)
	$(BIN)/python scripts/bench_overhead.py --scale $(SCALE) $(BENCH_ARGS)
	$(BIN)/python scripts/bench_report.py $(if $(filter small,$(SCALE)),--runs 300)

# The checks `make test` skips without a GPU (they are never required), run where one is visible to
# the venv's torch (a CUDA build of torch; this project's constraints pin a CPU one here).
gpu-check: $(STAMP)
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'make gpu-check: no CUDA GPU visible to torch ' + torch.__version__)"
	$(BIN)/python -m pytest -q -rs tests/test_backend.py
	$(BIN)/python scripts/bench_attention.py --repeats 3 --steps 500 --backend-dim 300000

clean-venv:
	rm -rf $(VENV)

# --- Sweeps and reports -------------------------------------------------------------------------
# make table1 | fig1 | report   [SCALE=small|full] [JOBS=2] [REPORT_DIR=outputs/report]
# Each target runs an experiment preset (conf/experiment/<name>[_small].yaml) with attnopt's
# launcher; its sweep dir is fixed, so running it again resumes. At the end of the sweep the
# preset's Hydra callback writes the tables/figures it names into $(REPORT_DIR).
# A preset joins `make report` with one line: REPORT_EXPERIMENTS += <name>
JOBS       ?= 2
REPORT_DIR ?= outputs/report
REPORT_EXPERIMENTS += table1
EXPERIMENT = $(BIN)/attnopt run -m +experiment=$(1)$(if $(filter small,$(SCALE)),_small) \
	hydra.launcher.n_jobs=$(JOBS) hydra.callbacks.report.out=$(REPORT_DIR) $(ARGS)

.PHONY: table1 fig1 report
table1 fig1: $(STAMP)
	$(call EXPERIMENT,table1)

report: $(STAMP)
	$(foreach e,$(REPORT_EXPERIMENTS),$(call EXPERIMENT,$(e)) && ) true

# --- ML tasks and learning-rate search (report 2.5.1-2.5.3, 2.5.5) ------------------------------
# make table2 | fig2 | fig3 | table3   [SCALE=small|full] [REPORT_DIR=outputs/report] [ML_ARGS=--force]
# Runs go one after another (so the timings are not disturbed) into outputs/ml/<scale>/<target>/;
# complete runs of the same config are reused, ML_ARGS=--force reruns them. table3 runs
# `attnopt hpo`. SCALE=small takes well under a minute per target.
ML_TARGETS := table2 fig2 fig3 table3
.PHONY: $(ML_TARGETS)
$(ML_TARGETS): $(STAMP)
	$(BIN)/python -m attnopt.experiments.ml $@ --scale $(SCALE) --out $(REPORT_DIR) $(ML_ARGS)

report: $(ML_TARGETS)

# --- Hybrids on the trapped landscape (report 3 and 5: Table 4, Figures 4 and 5) ----------------
# make table4 | fig5   [SCALE=small|full]  sweep conf/experiment/table4[_small].yaml; writes table4 + fig5
# make fig4            2-D trapped (and Rastrigin) maps with gd, attention and hybrid2 trajectories
# gd.lr=0.001: the report's rate, which Table 4 gives gd (see conf/table4_optimizer/gd.yaml).
REPORT_EXPERIMENTS += table4
.PHONY: table4 fig5 fig4
table4 fig5: $(STAMP)
	$(call EXPERIMENT,table4)

fig4: $(STAMP)
	$(BIN)/attnopt plot landscape=trapped gd.lr=0.001 out=$(REPORT_DIR)/fig4.png $(PLOT_ARGS)
	$(BIN)/attnopt plot landscape=rastrigin gd.lr=0.001 out=$(REPORT_DIR)/fig4_rastrigin.png $(PLOT_ARGS)

report: fig4

# --- Learned optimizers (report 4: Figures 6 and 7, table l2l) ----------------------------------
# make fig6 | fig7 | l2l   [SCALE=small|full] [REPORT_DIR=outputs/report] [L2L_ARGS="--retrain --second-order"]
# Meta-trained optimizers are saved with their config in outputs/l2l/<scale>/checkpoints/ and,
# like the evaluations cached beside them, reused while their spec is unchanged. SCALE=small: all
# three together in a few minutes on 2 cores. SCALE=full (784-128-10 MLP on 5,000 MNIST images,
# 101,770 parameters, 10-step unrolls) is the optional long experiment: fig6 + fig7 ~22 h on 2 CPU
# cores (make l2l-cost SCALE=full, 2026-12-01), most of it meta-testing the LSTMs: it wants a GPU.
# --second-order: second-order meta-gradients; its checkpoints and report files are named *-second-order.*
L2L_TARGETS := fig6 fig7 l2l
.PHONY: $(L2L_TARGETS)
$(L2L_TARGETS): $(STAMP)
	$(BIN)/python -m attnopt.meta $@ --scale $(SCALE) --report-dir $(REPORT_DIR) $(L2L_ARGS)

# make l2l-cost [SCALE=full]: what `make fig6 fig7` would cost on this machine, without running it:
# each meta-training and evaluation timed on a slice and projected ($(REPORT_DIR)/l2l_cost_<scale>.md)
.PHONY: l2l-cost
l2l-cost: $(STAMP)
	$(BIN)/python -m attnopt.meta cost --scale $(SCALE) --report-dir $(REPORT_DIR)
# make l2l-bench: meta-training time per meta-iteration, LSTM vs attention model, interleaved on the
# same quadratic batches ($(REPORT_DIR)/l2l_bench.csv; well under a minute)
.PHONY: l2l-bench
l2l-bench: $(STAMP)
	$(BIN)/python -m attnopt.meta bench --report-dir $(REPORT_DIR) $(L2L_ARGS)

# --- Comparison with outside baselines (issue 7: cma, dual_annealing, basinhopping) -------------
# make compare   [SCALE=small|full] [JOBS=2] [REPORT_DIR=outputs/report]
# Two sweeps (conf/experiment/compare[_small].yaml: rastrigin/ackley/griewank plain and rotated +
# shifted; compare_trapped[_small].yaml: trapped) into outputs/sweeps/compare[_small]/, then one
# report over both: compare.csv/.md and fig_compare_ecdf.png. SCALE=small (D=5, 3 seeds, 1e4 evals,
# 315 runs) took 95 s with JOBS=2 on 2 shared cores (2026-12-02); SCALE=full (D=10,20, 10 seeds, 1e5 evals, 2,100 runs)
# took ~36 minutes with JOBS=2 on 2 shared cores, measured in three parts (2026-12-01, see
# docs/findings.md): the 980 runs of cma, attention_cma, hybrid_cma, hybrid1-4 ~11 min, the 420 of
# attention_ipop, dual_annealing, basinhopping 10 min, the 700 of attention, attention_explore, gd,
# sgd, adam 14.8 min. Not part of `make report` because of that.
# One BLAS thread per job: the jobs run in parallel, and L-BFGS-B's tiny products only lose by more.
COMPARE_DIR = outputs/sweeps/compare$(if $(filter small,$(SCALE)),_small)
.PHONY: compare
compare: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(call EXPERIMENT,compare_trapped) hydra.callbacks.report.report=false
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(call EXPERIMENT,compare) hydra.callbacks.report.report=false
	$(BIN)/attnopt report $(COMPARE_DIR) --tables compare ert --figures fig_compare_ecdf --out $(REPORT_DIR) \
		--runs-name runs_$(notdir $(COMPARE_DIR))

# make tune ARGS="--dims 10 --seeds 30 --first-seed 2000 --problems trapped --opts cma hybrid_cma"
# How the compare grid's optimizers got their defaults (scripts/tune_opt.py): each --opts spec
# (name:key=value,...) on the compare problems with seeds the grid does not use (>= 1000), solved
# runs and median evaluations next to the first spec's; the rows also go to outputs/tune/tune.csv.
.PHONY: tune
tune: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python scripts/tune_opt.py --out outputs/tune/tune.csv $(ARGS)
