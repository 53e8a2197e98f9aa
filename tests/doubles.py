"""Test doubles shared by several test modules."""
from attnopt import backend
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


class Counting(Landscape):
    """A sphere, ``|x - shift|^2 + offset``, that counts its own evaluations (any backend), to check
    that nothing evaluates behind the driver's ledger. An ``offset`` keeps a target at 0 from
    being hit by accident; a ``shift`` moves the optimum off the origin."""

    name = "counting"

    def __init__(self, dim, shift: float = 0.0, offset: float = 0.0):
        super().__init__(dim)
        self.shift, self.offset = shift, offset
        self.f_calls = self.g_calls = 0

    def _value(self, X):
        self.f_calls += X.shape[0]
        return backend.rowsum((X - self.shift) ** 2) + self.offset

    def _grad(self, X):
        self.g_calls += X.shape[0]
        return 2 * (X - self.shift)


def ctrl_c_reaches_it() -> None:
    """A `preexec_fn` for a child a test will interrupt with SIGINT: its SIGINT disposition back to
    the default, as a terminal's foreground job has it. A shell that starts the test suite in the
    background (`make test &`, as some CI runners do) makes it ignore SIGINT, every child inherits
    that, and Python then never raises KeyboardInterrupt: the test would measure the launcher, not
    attnopt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
