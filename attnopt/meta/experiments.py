"""The report's section-4 study, end to end: meta-train, tune baselines, meta-test, tables, figures.

    python -m attnopt.meta l2l  --scale small    # table outputs/report/l2l.csv/.md + l2l_horizon.png
    python -m attnopt.meta fig6 --scale small    # MLP, raw features   (outputs/report/fig6.png)
    python -m attnopt.meta fig7 --scale small    # MLP, log/sign + rich (outputs/report/fig7.png)
    python -m attnopt.meta bench                 # meta-training time, LSTM vs attention
    python -m attnopt.meta cost --scale full     # what fig6 + fig7 would cost here, measured on a slice

Every meta-trained optimizer is saved under ``outputs/l2l/<scale>/checkpoints/<name>.pt`` with its
config and reused by later commands when its training spec is unchanged; evaluation results are
cached beside them, keyed by the checkpoint's bytes and the evaluation spec, so ``make fig6 fig7
l2l`` trains and evaluates each model once.

``--second-order`` meta-trains every model with second-order meta-gradients. Its checkpoints,
meta-loss curves and report files carry a ``-second-order`` suffix (``generalist-second-order.pt``,
``fig6-second-order.png``), so both variants can live side by side and neither overwrites the
other; the training spec that decides reuse includes the flag as well.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from attnopt import io
from attnopt.meta import evaluate as ev
from attnopt.optimizers.learned_nets import LearnedOptimizer
from attnopt.meta.rules import BASELINES, learned
from attnopt.meta.tasks import Family, make_family
from attnopt.meta.train import TrainConfig, meta_train
from attnopt.optimizers.learned_nets import load_checkpoint, save_checkpoint

TWO_D = ("quadratic", "rastrigin", "rosenbrock")


@dataclass(frozen=True)
class ModelSpec:
    """One meta-trained optimizer: architecture, training families, schedule, and what it starts from."""

    kind: str
    features: str
    families: tuple[str, ...]
    train: TrainConfig
    init_from: Optional[str] = None
    label: str = ""


@dataclass
class Preset:
    n_test: int  # held-out tasks per family
    n_tune: int  # training tasks the baselines' learning rates are tuned on
    lr_grid: tuple
    two_d: TrainConfig
    finetune: TrainConfig
    horizons: tuple  # multiples of the training horizon to meta-test at
    mlp: dict  # MLP family arguments
    mlp_train: TrainConfig
    mlp_horizons: tuple
    mlp_n_test: int
    mlp_chunk: Optional[int] = None
    mlp_lr_grid: tuple = ()


def _grid(lo, hi, n):
    return tuple(float(v) for v in np.geomspace(lo, hi, n))


PRESETS = {
    # All L2L targets together in well under 5 minutes on 2 CPU cores.
    "small": Preset(
        n_test=100, n_tune=32, lr_grid=_grid(1e-5, 3.0, 17),
        two_d=TrainConfig(meta_iters=200, meta_batch=32, horizon=20, unroll=10, meta_lr=3e-3),
        finetune=TrainConfig(meta_iters=100, meta_batch=32, horizon=20, unroll=10, meta_lr=1e-3, seed=1),
        horizons=(1, 10, 50),
        # 64-8-10 (610 parameters): 100 test MLPs x 610 coordinates through the LSTM is the cost driver.
        mlp={"dataset": "digits", "hidden": 8, "batch_size": 128},
        mlp_train=TrainConfig(meta_iters=60, meta_batch=1, horizon=20, unroll=10, meta_lr=3e-3),
        mlp_horizons=(1, 3), mlp_n_test=100, mlp_lr_grid=_grid(1e-3, 10.0, 9),
    ),
    # The report's sizes: 784-128-10 on MNIST (101,770 parameters), 10-step unroll. Hours on CPU.
    "full": Preset(
        n_test=1000, n_tune=128, lr_grid=_grid(1e-5, 3.0, 17),
        two_d=TrainConfig(meta_iters=3000, meta_batch=128, horizon=20, unroll=10, meta_lr=3e-3),
        finetune=TrainConfig(meta_iters=1000, meta_batch=128, horizon=20, unroll=10, meta_lr=1e-3, seed=1),
        horizons=(1, 10, 50),
        mlp={"dataset": "mnist5k", "hidden": 128, "batch_size": 128},
        mlp_train=TrainConfig(meta_iters=500, meta_batch=1, horizon=100, unroll=10, meta_lr=3e-3),
        mlp_horizons=(1, 10), mlp_n_test=100, mlp_chunk=20, mlp_lr_grid=_grid(1e-3, 10.0, 9),
    ),
}


def model_specs(p: Preset) -> dict[str, ModelSpec]:
    two_d = p.two_d
    return {
        "generalist": ModelSpec("lstm", "logsign", ("quadratic",), two_d, label="LSTM generalist (quadratics)"),
        "finetuned": ModelSpec("lstm", "logsign", ("rastrigin",), p.finetune, init_from="generalist",
                               label="LSTM generalist -> fine-tuned (Rastrigin)"),
        "multitask": ModelSpec("lstm", "logsign", ("rastrigin", "rosenbrock"), two_d,
                               label="LSTM multi-task (Rastrigin + Rosenbrock)"),
        "attention": ModelSpec("attention", "logsign", ("quadratic",), two_d,
                               label="Attention over history (quadratics)"),
        "mlp_raw": ModelSpec("lstm", "raw", ("mlp",), p.mlp_train, label="LSTM, raw [g, x]"),
        "mlp_logsign": ModelSpec("lstm", "logsign", ("mlp",), p.mlp_train, label="LSTM, log/sign [log|g|/p, sgn g, x]"),
        "mlp_rich": ModelSpec("lstm", "rich", ("mlp",), p.mlp_train, label="LSTM, rich (+momenta, 2nd moment)"),
    }


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))


def variant_suffix(second_order: bool) -> str:
    """What second-order runs append to checkpoint, curve and report file stems."""
    return "-second-order" if second_order else ""


class Study:
    def __init__(self, scale: str = "small", root: Path | str = "outputs", progress: bool = True,
                 retrain: bool = False, report_dir: Optional[Path | str] = None, device: str = "cpu",
                 second_order: bool = False):
        if scale not in PRESETS:
            raise SystemExit(f"attnopt.meta: error: unknown scale {scale!r}; choose from {', '.join(PRESETS)}")
        self.scale, self.preset = scale, PRESETS[scale]
        self.dir = Path(root) / "l2l" / scale
        self.report_dir = Path(report_dir) if report_dir else Path(root) / "report"
        self.progress, self.retrain = progress, retrain
        self.device = torch.device(device)
        self.second_order = second_order
        # Separate file names keep a first-order checkpoint (hours of training at full scale) from
        # being overwritten by a second-order run of the same model, and vice versa.
        self.suffix = variant_suffix(second_order)
        self.title = f"{scale}, second-order meta-gradients" if second_order else scale
        # The flag goes into each spec's TrainConfig, so it reaches meta_train, is saved in the
        # checkpoint's spec and takes part in the reuse comparison in model().
        self.specs = {name: dataclasses.replace(spec, train=dataclasses.replace(spec.train, second_order=second_order))
                      for name, spec in model_specs(self.preset).items()}
        self._families: dict[str, Family] = {}
        self._models: dict[str, tuple[LearnedOptimizer, dict]] = {}

    # ------------------------------------------------------------------ families, models, caching
    def family(self, name: str) -> Family:
        if name not in self._families:
            self._families[name] = make_family(name, **(self.preset.mlp if name == "mlp" else {})).to(self.device)
        return self._families[name]

    def checkpoint_path(self, name: str) -> Path:
        return self.dir / "checkpoints" / f"{name}{self.suffix}.pt"

    def meta_curve_path(self, name: str) -> Path:
        return self.dir / "meta_loss" / f"{name}{self.suffix}.csv"

    def report_path(self, stem: str, ext: str) -> Path:
        return self.report_dir / f"{stem}{self.suffix}.{ext}"

    def _spec_json(self, name: str) -> dict:
        spec = self.specs[name]
        out = _jsonable(spec)
        if spec.init_from:
            out["init_from_spec"] = self._spec_json(spec.init_from)
        if "mlp" in spec.families:
            out["mlp"] = self.preset.mlp
        return out

    def model(self, name: str) -> tuple[LearnedOptimizer, dict]:
        """The meta-trained model ``name``: loaded when a checkpoint of the same spec exists, else trained."""
        if name in self._models:
            return self._models[name]
        spec, path = self.specs[name], self.checkpoint_path(name)
        want = self._spec_json(name)
        if path.is_file() and not self.retrain:
            meta = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
            if meta.get("info", {}).get("spec") == want:
                self._models[name] = (load_checkpoint(path).to(self.device), meta["info"])
                return self._models[name]
        if spec.init_from:
            base, _ = self.model(spec.init_from)
            model = copy.deepcopy(base).train()
        else:
            torch.manual_seed(spec.train.seed)
            model = LearnedOptimizer(kind=spec.kind, features=spec.features).to(self.device)
        fams = [self.family(f) for f in spec.families]
        log = meta_train(model, fams, spec.train, progress=self.progress, desc=f"meta-train {name}")
        info = {**log, "spec": want, "label": spec.label, "scale": self.scale, "device": str(self.device)}
        save_checkpoint(path, model, info)
        curve_path = self.meta_curve_path(name)
        io.write_csv(curve_path, pd.DataFrame({"meta_iter": np.arange(len(log["meta_loss"])), "meta_loss": log["meta_loss"]}))
        model.eval()
        meta = json.loads(path.with_suffix(".json").read_text())
        self._models[name] = (model, meta["info"])
        print(f"meta-trained {name}: {log['time_per_meta_iter_s'] * 1e3:.1f} ms/meta-iteration, "
              f"final meta-loss {log['meta_loss'][-1]:.4g} -> {path}", flush=True)
        return self._models[name]

    def _cached(self, key: dict, compute):
        """Evaluation results (dict of arrays / floats) cached by a hash of everything they depend on."""
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = self.dir / "cache" / f"{key.get('what', 'eval')}_{digest}.npz"
        if path.is_file() and not self.retrain:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        out = {k: np.asarray(v) for k, v in compute().items()}
        io.atomic_write(path, lambda p: np.savez(open(p, "wb"), **out))
        return out

    def _checkpoint_hash(self, name: str) -> str:
        self.model(name)
        return hashlib.sha256(self.checkpoint_path(name).read_bytes()).hexdigest()

    # ------------------------------------------------------------------ evaluation
    def tasks(self, family: str, which: str, n: int):
        # Training-task (tuning) and test-task streams never share a seed with meta-training (seed 0/1).
        seed = {"tune": 1_000, "test": 2_000}[which] + TWO_D.index(family) if family in TWO_D else \
            {"tune": 1_100, "test": 2_100}[which]
        return self.family(family).sample(n, torch.Generator().manual_seed(seed))

    def evaluate_baseline(self, family: str, name: str, steps: int) -> dict:
        p = self.preset
        grid = np.array(p.mlp_lr_grid if family == "mlp" else p.lr_grid)
        n_tune = min(p.n_tune, 16) if family == "mlp" else p.n_tune
        n_test = p.mlp_n_test if family == "mlp" else p.n_test
        key = {"what": f"{family}_{name}_{steps}", "scale": self.scale, "grid": grid.tolist(), "n_tune": n_tune,
               "n_test": n_test, "mlp": p.mlp if family == "mlp" else None, "v": 1}

        def compute():
            tuned = ev.tune_lr(name, self.family(family), self.tasks(family, "tune", n_tune), steps, grid)
            out = ev.run_rule(BASELINES[name](tuned["lr"]), self.family(family), self.tasks(family, "test", n_test),
                              steps, chunk=p.mlp_chunk if family == "mlp" else None)
            return {**{k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()}, "lr": tuned["lr"]}

        return self._cached(key, compute)

    def evaluate_learned(self, family: str, name: str) -> dict:
        """One run to the longest horizon; final metrics recorded at every horizon on the way."""
        p = self.preset
        n_test = p.mlp_n_test if family == "mlp" else p.n_test
        at = [hx * (p.mlp_train.horizon if family == "mlp" else p.two_d.horizon)
              for hx in (p.mlp_horizons if family == "mlp" else p.horizons)]
        key = {"what": f"{family}_{name}_{max(at)}", "scale": self.scale, "ckpt": self._checkpoint_hash(name),
               "n_test": n_test, "at": at, "mlp": p.mlp if family == "mlp" else None, "v": 1}

        def compute():
            model, _ = self.model(name)
            out = ev.run_rule(learned(model), self.family(family), self.tasks(family, "test", n_test), max(at),
                              chunk=p.mlp_chunk if family == "mlp" else None, final_at=at)
            return {k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in out.items()}

        return self._cached(key, compute)

    # ------------------------------------------------------------------ rows of the table
    def _row(self, family: str, optimizer: str, horizon_x: int, steps: int, res: dict, **extra) -> dict:
        fam = self.family(family)
        data = fam.description if family == "mlp" else f"2-D {family}"
        final = res[f"final_loss@{steps}"]
        row = {"scale": self.scale, "family": family, "task": data, "optimizer": optimizer,
               "horizon_x": horizon_x, "steps": steps, **extra,
               **ev.summarize(np.asarray(final) - fam.f_opt, fam.success_below)}
        if family == "mlp":
            row["test_acc_mean"] = float(np.mean(res[f"test_acc@{steps}"]))
        row["update_ms"] = float(res["update_s"]) * 1e3
        row["step_ms"] = float(res["step_s"]) * 1e3
        return row

    def two_d_rows(self) -> tuple[list[dict], dict]:
        p = self.preset
        rows, curves = [], {}
        learned_names = ["generalist", "finetuned", "multitask", "attention"]
        for family in TWO_D:
            for hx in p.horizons:
                steps = hx * p.two_d.horizon
                base = {n: self.evaluate_baseline(family, n, steps) for n in BASELINES}
                for n, res in base.items():
                    rows.append(self._row(family, n, hx, steps, res, lr=float(res["lr"])))
                adam_med = np.median(base["Adam"]["curve"], axis=1)
                for name in learned_names:
                    res = self.evaluate_learned(family, name)
                    med = np.median(res["curve"][: steps + 1], axis=1)
                    _, info = self.model(name)
                    rows.append(self._row(family, self.specs[name].label, hx, steps, res,
                                          trained_on="+".join(self.specs[name].families),
                                          second_order=self.second_order,
                                          adam_overtakes_at=ev.overtake_step(med, adam_med),
                                          meta_iter_ms=info["time_per_meta_iter_s"] * 1e3))
                    if hx == max(p.horizons):
                        curves[(family, self.specs[name].label)] = res["curve"]
                if hx == max(p.horizons):
                    curves[(family, "Adam")] = base["Adam"]["curve"]
        return rows, curves

    def mlp_results(self, names: list[str]) -> tuple[list[dict], dict]:
        p = self.preset
        rows, curves = [], {}
        for hx in p.mlp_horizons:
            steps = hx * p.mlp_train.horizon
            base = {n: self.evaluate_baseline("mlp", n, steps) for n in BASELINES}
            adam_med = np.median(base["Adam"]["curve"], axis=1)
            for n, res in base.items():
                rows.append(self._row("mlp", n, hx, steps, res, lr=float(res["lr"])))
                curves[(hx, n)] = res["curve"]
            for name in names:
                res = self.evaluate_learned("mlp", name)
                _, info = self.model(name)
                med = np.median(res["curve"][: steps + 1], axis=1)
                rows.append(self._row("mlp", self.specs[name].label, hx, steps, res, trained_on="mlp",
                                      second_order=self.second_order,
                                      features=self.specs[name].features,
                                      adam_overtakes_at=ev.overtake_step(med, adam_med),
                                      meta_iter_ms=info["time_per_meta_iter_s"] * 1e3))
                curves[(hx, name)] = res["curve"][: steps + 1]
        return rows, curves

    # ------------------------------------------------------------------ outputs
    def figure_mlp(self, number: int, names: list[str]) -> Path:
        from attnopt.meta import figures

        rows, curves = self.mlp_results(names)
        fam = self.family("mlp")
        path = self.report_path(f"fig{number}", "png")
        figures.mlp_figure(path, number, names, self.specs, curves, rows, fam.description, self.preset,
                           {n: self.meta_curve_path(n) for n in names}, self.title)
        io.write_csv(path.with_suffix(".csv"), pd.DataFrame(rows))  # the numbers behind the figure
        print(f"wrote {path} and {path.with_suffix('.csv')}")
        return path

    def table(self) -> Path:
        from attnopt.meta import figures

        rows2d, curves2d = self.two_d_rows()
        rows_mlp, _ = self.mlp_results(["mlp_raw", "mlp_logsign", "mlp_rich"])
        table = pd.DataFrame(rows2d + rows_mlp)
        csv, md, horizon = self.report_path("l2l", "csv"), self.report_path("l2l", "md"), self.report_path("l2l_horizon", "png")
        io.write_csv(csv, table)
        io.write_text(md, figures.markdown_table(table, self.preset, self.title))
        figures.horizon_figure(horizon, curves2d, self.preset, self.title)
        print(f"wrote {csv}, {md} and {horizon}")
        return csv


def bench_kinds(report_dir: Path, reps: int = 3, meta_iters: int = 60, second_order: bool = False) -> pd.DataFrame:
    """Meta-training time per meta-iteration, LSTM vs attention, on the same quadratic batches.

    Runs are interleaved (lstm, attention, lstm, ...) so that load from other processes hits both
    alike; the table keeps every repetition and the summary line reports medians."""
    fam = make_family("quadratic")
    rows = []
    for rep in range(reps):
        for kind in ("lstm", "attention"):
            torch.manual_seed(0)
            model = LearnedOptimizer(kind=kind, features="logsign")
            cfg = TrainConfig(meta_iters=meta_iters, meta_batch=32, second_order=second_order)
            log = meta_train(model, [fam], cfg, progress=False)
            rows.append({"kind": kind, "rep": rep, "meta_iter_ms": log["time_per_meta_iter_s"] * 1e3,
                         "threads": torch.get_num_threads(), "second_order": second_order})
    table = pd.DataFrame(rows)
    path = Path(report_dir) / f"l2l_bench{variant_suffix(second_order)}.csv"
    io.write_csv(path, table)
    med = table.groupby("kind")["meta_iter_ms"].median()
    print(f"meta-training ms/meta-iteration (median of {reps}): lstm {med['lstm']:.1f}, attention {med['attention']:.1f} "
          f"-> {path}")
    return table


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: user + system, all threads) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def cost(study: Study, meta_iters: int = 3, eval_steps: int = 10) -> pd.DataFrame:
    """What ``fig6`` + ``fig7`` at the study's scale cost on this machine, without running them: each
    part (meta-training each MLP model, meta-testing it, tuning and testing each baseline at each
    horizon) is timed on a slice (``meta_iters`` meta-iterations; one chunk of test tasks for
    ``eval_steps`` steps) and projected linearly to the preset's full size. Wall and CPU time are
    both kept (CPU = user + system of every thread, what a shared machine's load does not inflate).
    Writes l2l_cost_<scale>.csv / .md into the report directory."""
    p, fam = study.preset, study.family("mlp")
    longest = max(p.mlp_horizons) * p.mlp_train.horizon
    chunk = min(p.mlp_chunk or p.mlp_n_test, p.mlp_n_test)
    n_tune = min(p.n_tune, 16)  # as evaluate_baseline tunes the MLP's rates
    rows = []

    def add(part, slice_desc, units_measured, units_full, wall, cpu):
        rows.append({"part": part, "measured on": slice_desc, "wall_s": wall, "cpu_s": cpu,
                     "scale_up": units_full / units_measured, "projected_wall_s": wall * units_full / units_measured,
                     "projected_cpu_s": cpu * units_full / units_measured})

    tasks = study.tasks("mlp", "test", chunk)
    # untimed warm-up: torch's first calls (allocator, kernels) would be charged to the first part
    meta_train(LearnedOptimizer(kind="lstm", features="raw").to(study.device), [fam],
               dataclasses.replace(study.specs["mlp_raw"].train, meta_iters=1), progress=False)
    for name in ("mlp_raw", "mlp_logsign", "mlp_rich"):
        spec = study.specs[name]
        torch.manual_seed(spec.train.seed)
        model = LearnedOptimizer(kind=spec.kind, features=spec.features).to(study.device)
        cfg = dataclasses.replace(spec.train, meta_iters=meta_iters)
        wall, cpu = _timed(lambda: meta_train(model, [fam], cfg, progress=False))
        add(f"meta-train {name}", f"{meta_iters} of {spec.train.meta_iters} meta-iterations", meta_iters,
            spec.train.meta_iters, wall, cpu)
        model.eval()
        wall, cpu = _timed(lambda: ev.run_rule(learned(model), fam, tasks, eval_steps))
        add(f"meta-test {name}", f"{chunk} tasks x {eval_steps} steps (of {p.mlp_n_test} x {longest})",
            chunk * eval_steps, p.mlp_n_test * longest, wall, cpu)
    for name in BASELINES:
        rule = BASELINES[name](1e-2)
        wall, cpu = _timed(lambda: ev.run_rule(rule, fam, tasks, eval_steps))
        # per horizon: the grid's rates on n_tune tasks (tune_lr), then the test tasks
        task_steps = sum((len(p.mlp_lr_grid) * n_tune + p.mlp_n_test) * hx * p.mlp_train.horizon
                         for hx in p.mlp_horizons)
        add(f"tune + test {name}", f"{chunk} tasks x {eval_steps} steps (of {task_steps:,} task-steps)",
            chunk * eval_steps, task_steps, wall, cpu)
    table = pd.DataFrame(rows)
    total_wall, total_cpu = table["projected_wall_s"].sum(), table["projected_cpu_s"].sum()
    threads = torch.get_num_threads()
    csv = study.report_dir / f"l2l_cost_{study.scale}.csv"
    io.write_csv(csv, table)
    fmt = lambda s: f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"
    lines = [f"# What `make fig6 fig7 SCALE={study.scale}` costs on {study.device} ({threads} torch threads), "
             f"projected from slices", "",
             "| part | measured on | wall | CPU | x | projected wall | projected CPU |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['part']} | {r['measured on']} | {r['wall_s']:.2f} s | {r['cpu_s']:.2f} s | {r['scale_up']:,.0f} | "
              f"{fmt(r['projected_wall_s'])} | {fmt(r['projected_cpu_s'])} |" for r in rows]
    lines += [f"| **total** | | | | | **{fmt(total_wall)}** | **{fmt(total_cpu)}** |", "",
              "x: how many times the slice the full run repeats (linear projection: the per-step cost of "
              "meta-training and of a step of a batch of tasks does not change along a run); CPU: user + "
              "system time of all threads."]
    io.write_text(csv.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"fig6 + fig7 at scale {study.scale}: projected {fmt(total_wall)} wall, {fmt(total_cpu)} CPU "
          f"({threads} threads) -> {csv.with_suffix('.md')}")
    return table


# `make fig7 SCALE=small L2L_ARGS=--second-order` (fig7-second-order.csv, beside make fig7's fig7.csv) measures
# what the flag buys and costs: docs/reference.md, "Meta-training", has the numbers and the commit.
SECOND_ORDER_HELP = (
    "meta-train with second-order meta-gradients (backpropagate through the inner gradients: the exact "
    "meta-gradient of each truncated unroll, not the first-order approximation); it costs more "
    "time per meta-iteration and more memory (it keeps each unroll's inner graph; at the small preset the "
    "time is not measurably more) and helps where a step changes the gradients that follow (the small MLP "
    "of fig7). docs/reference.md gives the measured losses and costs. Files get a -second-order suffix")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m attnopt.meta", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["l2l", "fig6", "fig7", "train", "all", "bench", "cost"],
                    help="bench: meta-training time of the LSTM vs the attention model; cost: what fig6 + fig7 "
                         "would cost at --scale, timed on slices and projected")
    ap.add_argument("--scale", default="small", choices=sorted(PRESETS))
    ap.add_argument("--out", default="outputs", help="root of checkpoints and caches: <out>/l2l/<scale>/")
    ap.add_argument("--report-dir", default=None, help="where tables and figures go (default: <out>/report)")
    ap.add_argument("--retrain", action="store_true", help="ignore cached checkpoints and evaluations")
    ap.add_argument("--second-order", action="store_true", help=SECOND_ORDER_HELP)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cuda (the full scale's MLP wants one)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: 1 for small, which is fastest on a shared 2-core machine)")
    args = ap.parse_args(argv)
    threads = args.threads or (1 if args.scale == "small" else None)
    if threads:
        torch.set_num_threads(threads)
    study = Study(args.scale, args.out, progress=not args.no_progress and sys.stderr.isatty(), retrain=args.retrain,
                  report_dir=args.report_dir, device=args.device, second_order=args.second_order)
    start = time.perf_counter()
    if args.what in ("fig6", "all"):
        study.figure_mlp(6, ["mlp_raw"])
    if args.what in ("fig7", "all"):
        study.figure_mlp(7, ["mlp_logsign", "mlp_rich"])
    if args.what in ("l2l", "all"):
        study.table()
    if args.what == "bench":
        bench_kinds(study.report_dir, second_order=args.second_order)
    if args.what == "cost":
        cost(study)
    if args.what == "train":
        for name in study.specs:
            study.model(name)
    print(f"done in {time.perf_counter() - start:.1f}s ({args.scale})")
    return 0
