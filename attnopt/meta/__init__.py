"""Learned optimizers ("learning to learn", report section 4): coordinatewise LSTM and
attention-over-history models, meta-training with truncated unrolls, and the meta-test study.

The networks and their checkpoints are the core's (:mod:`attnopt.optimizers.learned_nets`, which
the ``learned`` optimizer runs); this package trains and studies them.
"""
from attnopt.meta.train import TrainConfig, meta_train
from attnopt.optimizers.learned_nets import LearnedOptimizer, load_checkpoint, save_checkpoint

__all__ = ["LearnedOptimizer", "TrainConfig", "meta_train", "save_checkpoint", "load_checkpoint"]
