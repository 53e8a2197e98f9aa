"""Why `attnopt hpo` keeps its own attention search: the core's searches on the same problem.

`attnopt hpo`'s ``attention`` method (attnopt.hpo._attention) searches u = log10(lr) over a
bounded interval with stratified trials in a region that shrinks every round, and evaluates
nothing else. The core's optimizers (attnopt.minimize) spend an evaluation on x0, attention search
one per step on its new mean, and sample unbounded Gaussians. This runs Table 3's problem
(`attnopt hpo n_seeds=10`: linear regression on diabetes, 20 trainings per search) with hpo's
method and with the core's attention and attention_cma driven through attnopt.minimize on the
same objective (log validation loss, the same recorded trainings and budget), and prints each
one's median regret and its ratio to hpo's own.

    .venv/bin/python scripts/bench_hpo_attention.py [--seeds 10]
"""
from __future__ import annotations

import argparse

import numpy as np

import attnopt
import attnopt.hpo as hpo
from attnopt.landscapes.base import Landscape


class LogLoss(Landscape):
    """log(validation loss) of u = log10(lr), evaluated through hpo's ``evaluate`` (which counts
    the training against the search's budget and records it)."""

    name = "log_val_loss"

    def __init__(self, evaluate, lo: float, hi: float):
        super().__init__(1)
        self.evaluate, self.init_bounds = evaluate, (lo, hi)

    def _value(self, U):
        with np.errstate(divide="ignore"):
            return np.log(self.evaluate(U[:, 0]))


def core(name: str, **params):
    def search(evaluate, lo, hi, budget, rng, **_hpo_settings):
        attnopt.minimize(LogLoss(evaluate, lo, hi), name, x0=[0.5 * (lo + hi)], seed=int(rng.integers(2**31 - 1)),
                         max_iters=None, max_evals=budget, **params)

    return search


VARIANTS = {
    "hpo's own (stratified, shrinking region)": hpo._attention,
    "attention n_trials=4 sigma=0.25 (domain) success": core("attention", n_trials=4, sigma=0.25,
                                                            sigma_scale="domain", beta=5.0, sigma_adapt="success"),
    "attention n_trials=3 sigma=0.25 (domain) rank/csa": core("attention", n_trials=3, sigma=0.25,
                                                             sigma_scale="domain", weighting="rank", sigma_adapt="csa"),
    "attention_cma n_trials=5 sigma=0.15 restarts=0": core("attention_cma", n_trials=5, sigma=0.15, restarts=0),
    "attention_cma n_trials=4 sigma=0.35 restarts=0": core("attention_cma", n_trials=4, sigma=0.35, restarts=0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    own = None
    print(f"{'method':52s} {'median regret':>14s} {'IQR':>21s} {'ratio':>7s}")
    for label, search in VARIANTS.items():
        hpo._SEARCHERS["attention"] = search
        try:
            _, results, _, _ = hpo.run_hpo([f"n_seeds={args.seeds}", "methods=[attention]", "progress=false"])
        finally:
            hpo._SEARCHERS["attention"] = hpo._attention
        regret = results["regret"]
        median = float(regret.median())
        own = median if own is None else own
        iqr = f"{regret.quantile(0.25):.1e} - {regret.quantile(0.75):.1e}"
        print(f"{label:52s} {median:14.2e} {iqr:>21s} {median / own:7.1f}", flush=True)


if __name__ == "__main__":
    main()
