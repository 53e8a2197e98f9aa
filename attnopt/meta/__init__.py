"""Learned optimizers ("learning to learn", report section 4): coordinatewise LSTM and
attention-over-history models, meta-training with truncated unrolls, and the meta-test study.

torch is imported only by this package and :mod:`attnopt.optimizers.learned`.
"""
from attnopt.meta.models import LearnedOptimizer
from attnopt.meta.train import TrainConfig, load_checkpoint, meta_train, save_checkpoint

__all__ = ["LearnedOptimizer", "TrainConfig", "meta_train", "save_checkpoint", "load_checkpoint"]
