"""Test doubles shared by several test modules."""
from attnopt.landscapes import Landscape


class CallRecorder(Landscape):
    """A sphere that remembers the shape of every batch it was asked to evaluate."""

    name = "recorder"

    def __init__(self, dim):
        super().__init__(dim)
        self.calls = []

    def _value(self, X):
        self.calls.append(X.shape)
        return (X**2).sum(axis=1)

    def _grad(self, X):
        return 2 * X
