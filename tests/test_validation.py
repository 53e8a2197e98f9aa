"""Issue 12, sections 2-4: sizes that cannot fit, values that would crash, hang or give NaN, and
tracebacks where one line is promised. Every CLI case must fail before any work: one line on
stderr, exit code 2, nothing written (the cases run in-process through ``cli.main``, the same
code as the console script; one subprocess test checks the process's exit code too)."""
import subprocess
import sys

import numpy as np
import pytest

import attnopt
from attnopt import cli, landscapes, memory, optimizers
from attnopt.errors import ConfigError

X0_HUGE_11 = "x0=[" + ",".join(["1e200"] * 11) + "]"

# (arguments, words the one line must contain)
RUN_CASES = {
    # section 2: sizes refused before anything is allocated (a "should grow to 23 GB" case fails fast)
    "dimension 1e9": (["dimension=1000000000"], ["dimension=1000000000", "needs about", "TiB", "more than"]),
    "dimension 1e8": (["dimension=100000000"], ["dimension=100000000", "needs about", "GiB"]),
    "rotation": (["landscape.rotate=true", "dimension=200000"], ["landscape.rotate=true", "rotation matrix"]),
    "trapped data": (["landscape=trapped", "dimension=1000000000"], ["landscape=trapped", "data", "needs about"]),
    "generated data": (["landscape=linreg", "landscape.n_samples=10000000000", "dimension=11"],
                       ["landscape.n_samples=10000000000", "data set", "needs about"]),
    "cma covariance": (["optimizer=cma", "dimension=1000000"], ["optimizer=cma", "covariance"]),
    "hybrid trials": (["optimizer=hybrid1", "optimizer.attn_n_trials=1000000000"],
                      ["optimizer.attn_n_trials=1000000000", "points per batch", "needs about"]),
    # section 3: values that passed validation and then crashed, hung or gave NaN
    "gd budget below init": (["optimizer=gd", "budget.max_evals=1"], ["budget.max_evals=1", "too small", "gd"]),
    "gd budget below a step": (["optimizer=gd", "budget.max_evals=3"], ["budget.max_evals=3", "one step"]),
    "cma popsize 1": (["optimizer=cma", "optimizer.popsize=1"], ["optimizer.popsize=1", ">= 2"]),
    "cma sigma0 inf": (["optimizer=cma", "optimizer.sigma0=inf"], ["optimizer.sigma0=inf", "finite"]),
    "cma incpopsize inf": (["optimizer=cma", "optimizer.incpopsize=inf"], ["optimizer.incpopsize=inf", "finite"]),
    "cma incpopsize huge": (["optimizer=cma", "optimizer.incpopsize=1e30"], ["optimizer.incpopsize=1e+30", "<= 100"]),
    "scale_osc inf": (["landscape=trapped", "landscape.scale_osc=inf"], ["landscape.scale_osc=inf", "finite"]),
    "meta device": (["backend=torch", "device=meta"], ["device='meta'", "device=cpu"]),
    "huge x0": (["optimizer=basinhopping", "landscape=linreg", "dimension=11", X0_HUGE_11],
                ["x0=[1e+200", "value there is inf"]),
    "beta inf": (["optimizer.beta=inf"], ["optimizer.beta=inf", "finite"]),
    "sigma inf": (["optimizer.sigma=inf"], ["optimizer.sigma=inf", "finite"]),
    "eta inf": (["optimizer.eta=inf"], ["optimizer.eta=inf", "finite"]),
    "lr inf": (["optimizer=gd", "optimizer.lr=inf"], ["optimizer.lr=inf", "finite"]),
    "time_limit inf": (["budget.max_iters=null", "budget.time_limit=inf"], ["budget.time_limit=inf", "finite"]),
    "max_evals 1e300": (["budget.max_iters=null", "budget.max_evals=1e300"], ["budget.max_evals=1e+300"]),
    "max_evals 1e15": (["budget.max_iters=null", "budget.max_evals=1e15"], ["unbounded", "budget.time_limit"]),
    # section 4: tracebacks where one line is promised
    "budget not a mapping": (["budget=5"], ["budget=5", "budget.<key>"]),
    "missing interpolation": (["seed=${nonexistent}"], ["nonexistent"]),
    "seed deleted": (["~seed"], ["seed"]),
    "optimizer deleted": (["~optimizer"], ["optimizer"]),
}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnopt: error: "), err
    return lines[0]


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_run_refuses_before_any_work(case, tmp_path, monkeypatch, capsys):
    args, words = RUN_CASES[case]
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "plot=false", *args])
    line = one_error_line(capsys)
    assert code == 2
    for word in words:
        assert word in line, line
    assert list(tmp_path.iterdir()) == []  # no run directory, not even .hydra


OTHER_CASES = {
    "hpo budget 1e9": (["hpo", "budget=1000000000"], ["budget=1000000000", "needs about", "TiB"]),
    "hpo out is a file": (["hpo", "out=FILE"], ["cannot write outputs to", "FILE is not a directory"]),
    "hpo out read-only": (["hpo", "out=/proc/hpo"], ["cannot write outputs to /proc/hpo"]),
    "plot resolution 1e5": (["plot", "resolution=100000"], ["resolution=100000", "needs about"]),
    "plot out is a directory": (["plot", "out=DIR"], ["out=DIR is a directory"]),
    "plot out of unknown format": (["plot", "out=fig.xyz"], ["out=fig.xyz", "png"]),
    "plot huge x0": (["plot", "x0=[1e200,1e200]"], ["x0=[1e+200, 1e+200]", "value there is"]),
}


@pytest.mark.parametrize("case", list(OTHER_CASES))
def test_hpo_and_plot_refuse_before_any_work(case, tmp_path, monkeypatch, capsys):
    args, words = OTHER_CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("a file")
    (tmp_path / "DIR").mkdir()
    code = cli.main(args)
    line = one_error_line(capsys)
    assert code == 2
    for word in words:
        assert word in line, line
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["DIR", "FILE"]  # nothing written, nothing computed


def test_a_sweep_with_one_budget_too_small_fails_before_any_job(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "-m", "optimizer=cma,gd", "budget.max_evals=3", "plot=false"])  # cma fits: a partial population
    line = one_error_line(capsys)
    assert code == 2 and "budget.max_evals=3" in line and "optimizer=gd" in line
    assert list(tmp_path.iterdir()) == []


def test_a_zero_job_launcher_fails_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "plot=false"])
    line = one_error_line(capsys)
    assert code == 2 and "hydra.launcher.n_jobs=0" in line
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_exits_2_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", "dimension=1000000000"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "dimension=1000000000" in out.stderr
    assert list(tmp_path.iterdir()) == []


# --- memory (section 2) -------------------------------------------------------------------------


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "100M")
    assert memory.limit()[0] == 100 * 2**20
    memory.require(99 * 2**20, "small")
    with pytest.raises(ConfigError, match=r"^thing=1 needs about 200 MiB of memory, more than the limit "
                                          r"ATTNOPT_MEMORY_LIMIT=100M$"):
        memory.require(200 * 2**20, "thing=1")
    monkeypatch.setenv(memory.ENV_VAR, "none")
    memory.require(10**30, "anything")  # the check is off
    monkeypatch.setenv(memory.ENV_VAR, "lots")
    with pytest.raises(ConfigError, match="ATTNOPT_MEMORY_LIMIT='lots' is invalid"):
        memory.limit()


@pytest.mark.parametrize("text, expected", [("123", 123), ("1k", 1024), ("500M", 500 * 2**20), ("8G", 8 * 2**30),
                                            ("1.5GiB", int(1.5 * 2**30)), ("2TB", 2 * 2**40)])
def test_sizes_parse(text, expected):
    assert memory.parse_size(text) == expected


def test_without_a_limit_the_memory_available_is_the_limit(monkeypatch):
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    value, source = memory.limit()
    assert value is not None and value > 0 and "available" in source or "cgroup" in source


def test_a_small_cap_refuses_a_run_the_machine_could_hold(tmp_path, monkeypatch, capsys):
    # 64 trials x 100,000 coordinates is ~200 MiB with its temporaries: refused under a 50M cap
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(memory.ENV_VAR, "50M")
    code = cli.main(["run", "dimension=100000", "plot=false"])
    line = one_error_line(capsys)
    assert code == 2 and "dimension=100000" in line and "ATTNOPT_MEMORY_LIMIT=50M" in line
    monkeypatch.setenv(memory.ENV_VAR, "10G")
    assert cli.validate(["dimension=100000", "plot=false"], multirun=False) == 1  # fits: validated


def test_the_python_api_refuses_sizes_that_cannot_fit(monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "50M")
    with pytest.raises(ConfigError, match="rotation matrix"):
        landscapes.make("sphere", 5000, rotate=True)
    with pytest.raises(ConfigError, match="data"):
        landscapes.make("trapped", 1_000_000)


def test_the_estimate_counts_trials_and_covariances():
    f = landscapes.make("sphere", 1000)
    plain, _ = memory.run_estimate("attention", {"n_trials": 64}, f)
    assert plain >= memory.BATCH_COPIES * 64 * 1000 * 8
    explore, _ = memory.run_estimate("attention_explore", {"n_exploit": 48, "n_explore": 16}, f)
    assert explore == plain  # exploit and explore trials share one batch
    for name in memory.FULL_COVARIANCE:
        nbytes, text = memory.run_estimate(name, {"popsize": 0, "n_trials": 0}, f)
        assert nbytes > 4 * 8 * 1000**2 and "covariance" in text
    task = landscapes.make("mlp", 193)
    assert task.numbers_per_point > task.dim  # the activations on the training samples count too


def test_a_sweeps_jobs_share_the_memory_with_the_jobs_running_beside_them(tmp_path, monkeypatch):
    # one job of 64 trials x 100,000 coordinates needs ~200 MiB: it fits under 300M alone, not
    # beside a second worker (150M each)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(memory.ENV_VAR, "300M")
    job = ["dimension=100000", "plot=false", "hydra.sweep.dir=sweep"]
    assert cli.validate(["seed=0,1", *job], multirun=True) == 2  # one worker
    with pytest.raises(ConfigError, match=r"1/2 share .* for each of the 2 jobs that run at once "
                                          r"\(hydra.launcher.n_jobs=2\)$"):
        cli.validate(["seed=0,1", "hydra.launcher.n_jobs=2", *job], multirun=True)
    # never more workers than jobs: one job has the whole limit
    assert cli.validate(["seed=0", "hydra.launcher.n_jobs=2", *job], multirun=True) == 1
    assert memory._sharing == (1, "")  # the share ends with the validation


def test_the_driver_checks_batches_no_estimate_saw(monkeypatch):
    """An Optimizer object (no parameters to read) and restarts that grow the population: the
    driver checks every batch larger than those before it, before the landscape computes it."""
    monkeypatch.setenv(memory.ENV_VAR, "50M")
    f = landscapes.make("sphere", 100_000)
    with pytest.raises(ConfigError, match=r"^a batch of 64 points x 100000 coordinates \(evaluating it\) needs"):
        attnopt.minimize(f, optimizers.make("attention"), max_iters=2)
    small = landscapes.make("sphere", 2000)  # 10 trials fit, and 80 (5.1 MB); the 4th restart's 160 do not
    monkeypatch.setenv(memory.ENV_VAR, "5M")
    with pytest.raises(ConfigError, match=r"^a batch of 160 points x 2000 coordinates"):
        attnopt.minimize(small, "attention_ipop", max_iters=None, max_evals=10**6, restart_patience=1)


def test_the_learned_optimizers_state_counts(tmp_path, monkeypatch):
    from golden.make_golden import learned_checkpoint

    checkpoint = learned_checkpoint(tmp_path)
    opt = optimizers.make("learned", checkpoint=checkpoint)
    assert opt.state_bytes(1000) == 4 * (10 * 2 * 20 + 20) * 1000  # lstm, 2 layers of 20
    monkeypatch.setenv(memory.ENV_VAR, "100M")  # gd at d = 100,000 needs ~11 MiB; the LSTM's state ~160 MiB
    f = landscapes.make("sphere", 100_000)
    memory.check_run("gd", {"lr": 0.01}, f)
    with pytest.raises(ConfigError, match="and the optimizer's state"):
        memory.check_run("learned", {"checkpoint": checkpoint}, f, optimizer=opt)


# --- values (section 3) ------------------------------------------------------------------------


@pytest.mark.parametrize("name, key", [("attention", "beta"), ("attention", "sigma"), ("attention", "eta"),
                                       ("gd", "lr"), ("adam", "eps"), ("cma", "sigma0")])
@pytest.mark.parametrize("value", [np.inf, -np.inf, "inf"])
def test_every_number_must_be_finite(name, key, value):
    with pytest.raises(ConfigError, match=f"optimizer.{key}=.* is invalid: expected a finite number"):
        optimizers.make(name, **{key: value})


def test_trapped_optimum_search_has_a_bounded_cost():
    import time

    for scale in (1e6, 1e12):
        start = time.perf_counter()
        f = landscapes.make("trapped", 3, scale_osc=scale)
        assert f.f_opt is None and f.x_opt is None  # too costly to search: reported unknown
        assert time.perf_counter() - start < 5
        assert np.isfinite(f(np.ones(3)))
    assert landscapes.make("trapped", 3).f_opt < 0  # the default still has its exact optimum


def test_a_budget_smaller_than_one_step_is_a_defined_outcome_in_the_api():
    f = landscapes.make("sphere", 3)
    with pytest.raises(ConfigError, match="budget.max_evals=1 is too small"):
        attnopt.minimize(f, "gd", max_evals=1)
    res = attnopt.minimize(f, "gd", max_evals=3)  # init fits, a step does not: no step, documented
    assert res.status == "budget_exhausted" and res.iters == 0 and res.f_evals + res.g_evals == 2


def test_budget_objects_refuse_unbounded_runs():
    from attnopt.runner import Budget

    for kwargs in ({"max_iters": None, "time_limit": float("inf")}, {"max_iters": None, "max_evals": 10**15},
                   {"max_iters": 10**13}):
        with pytest.raises(ConfigError):
            Budget(**kwargs)
    Budget(max_iters=None, max_evals=10**12)
    Budget(max_iters=None, time_limit=60.0)


# --- Python API (section 4) --------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [None, 5, object()])
def test_minimize_refuses_what_is_not_an_optimizer(optimizer):
    with pytest.raises(ConfigError, match="optimizer=.* is invalid: give an optimizer's name"):
        attnopt.minimize(landscapes.make("sphere", 3), optimizer)


@pytest.mark.parametrize("x0, words", [([[1, 2, 3]], "shape (1, 3)"), ([1 + 2j, 0, 0], "real numbers"),
                                       (np.array([1, 2, 3], dtype=complex), "real numbers"),
                                       (["a", "b", "c"], "real numbers")])
def test_minimize_refuses_malformed_x0(x0, words):
    with pytest.raises(ConfigError) as info:
        attnopt.minimize(landscapes.make("sphere", 3), "gd", x0=x0, max_iters=2)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_numpy_integers_are_integers():
    res = attnopt.minimize(landscapes.make("sphere", 3), "attention", n_trials=np.int64(8), max_iters=np.int64(3),
                           seed=np.int64(1))
    assert res.f_evals == 1 + 3 * (8 + 1)
    with pytest.raises(ConfigError, match="expected an integer"):
        optimizers.make("attention", n_trials=np.float64(8.5))


# --- checkpoints (section 3) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from attnopt.optimizers.learned_nets import LearnedOptimizer, save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", LearnedOptimizer("lstm", "raw", hidden=4,
                                                                                          layers=1))


@pytest.mark.parametrize("field, value, words", [("hidden", -1, "arch.hidden=-1 is invalid: must be >= 1"),
                                                 ("hidden", 1000000, "arch.hidden=1000000 is invalid: must be <= 4096"),
                                                 ("layers", 0, "arch.layers=0 is invalid: must be >= 1"),
                                                 ("out_scale", "abc", "arch.out_scale='abc' is invalid"),
                                                 ("window", 2.5, "arch.window=2.5 is invalid: expected an integer"),
                                                 ("depth", 3, "unknown key 'arch.depth'")])
def test_checkpoint_architecture_fields_are_checked_when_loaded(tiny_checkpoint, tmp_path, monkeypatch, capsys,
                                                                field, value, words):
    import torch

    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["arch"][field] = value
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "optimizer=learned", f"optimizer.checkpoint={bad}", "plot=false"])
    line = one_error_line(capsys)
    assert code == 2 and words in line and "bad.pt" in line
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize("name, key", [("hybrid1", "attn_n_trials"), ("hybrid4", "n_lrs"), ("cma", "popsize")])
def test_batch_sizes_are_checked_before_an_optimizer_allocates_them(name, key, monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "100M")
    with pytest.raises(ConfigError, match=f"^optimizer.{key}=1000000000 \\(1000000000 points per batch\\) needs about"):
        optimizers.make(name, **{key: 10**9})


def test_minimize_checks_the_run_before_it_allocates(monkeypatch):
    monkeypatch.setenv(memory.ENV_VAR, "100M")
    with pytest.raises(ConfigError, match="dimension=10000 with optimizer=hybrid1 .optimizer.attn_n_trials=10000.: "
                                          "10000 points x 10000 coordinates"):
        attnopt.minimize(landscapes.make("sphere", 10_000), "hybrid1", attn_n_trials=10_000)


def test_every_optimizer_s_shipped_config_passes_the_checks():
    """The checks refuse what cannot work, never a shipped default (restarts that might grow a
    population are not counted as if they had happened)."""
    for name in optimizers.names():
        if name != "learned":  # needs a checkpoint
            assert cli.validate([f"optimizer={name}", "dimension=100"], multirun=False) == 1, name
