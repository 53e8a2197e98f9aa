"""Validate keyword parameters against a factory's annotated signature.

One mechanism serves optimizers, landscapes and run settings: a factory declares its parameters as
keyword arguments annotated with a type and, optionally, constraints::

    def attention(*, n_trials: Annotated[int, gt(0)], sigma: Annotated[float, gt(0)]): ...

``bind(factory, params, where="optimizer")`` rejects unknown keys (suggesting close matches),
converts values to the annotated type and checks the constraints, raising a one-line
:class:`ConfigError` that names the bad value and what is allowed.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from attnopt.errors import ConfigError


@dataclass(frozen=True)
class Constraint:
    check: Callable[[Any], bool]
    text: str


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e15 else f"{bound:g}"


def gt(bound: float) -> Constraint:
    return Constraint(lambda v: v > bound, f"> {_fmt(bound)}")


def ge(bound: float) -> Constraint:
    return Constraint(lambda v: v >= bound, f">= {_fmt(bound)}")


def le(bound: float) -> Constraint:
    return Constraint(lambda v: v <= bound, f"<= {_fmt(bound)}")


def one_of(*choices: str) -> Constraint:
    return Constraint(lambda v: v in choices, "one of " + ", ".join(map(str, choices)))


def _describe(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a config"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


#: the largest integer a parameter may take: what numpy's int64 counters hold
MAX_INT = 2**63 - 1


def _integer(value: Any):
    """``value`` as an int when it is one (numpy integers, integral floats and digit strings
    included), else None."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _convert(value: Any, tp: Any, name: str) -> Any:
    """Convert ``value`` to ``tp`` the way a YAML/CLI user would expect, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _convert(value, args[0], name)
        for arg in args:
            try:
                return _convert(value, arg, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name}={value!r} is invalid: expected {' or '.join(map(_describe, args))}")
    if origin in (list, tuple, typing.Sequence):
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ConfigError(f"{name}={value!r} is invalid: expected a list")
        return [_convert(v, item_tp, f"{name}[{i}]") for i, v in enumerate(value)]
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    if value is None:
        raise ConfigError(f"{name}=null is invalid: expected {_describe(tp)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} is invalid: expected true or false")
    if tp is int:
        out = _integer(value)
        if out is None:
            raise ConfigError(f"{name}={value!r} is invalid: expected an integer")
        if abs(out) > MAX_INT:
            # Counts beyond int64 overflow numpy's counters; they are never meant (1e300 evaluations).
            raise ConfigError(f"{name}={value!r} is invalid: an integer of at most {MAX_INT:.3g} expected")
        return out
    if tp is float:
        kind = getattr(getattr(value, "dtype", None), "kind", "")
        if isinstance(value, (bool, complex)) or kind in ("b", "c"):  # float() would drop a complex's imaginary part
            raise ConfigError(f"{name}={value!r} is invalid: expected a number")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} is invalid: expected a number") from None
        if math.isnan(out):
            raise ConfigError(f"{name}={value!r} is invalid: expected a number, not NaN")
        if math.isinf(out):
            # Every number a factory takes is a scale, a rate, a count or a bound: inf turns the
            # formulas it enters into NaN, 0/0 or an allocation of inf elements.
            raise ConfigError(f"{name}={value!r} is invalid: expected a finite number")
        return out
    if tp is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise ConfigError(f"{name}={value!r} is invalid: expected a config of key: value entries "
                          f"(set its keys one by one, e.g. {name}.<key>=...)")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}={value!r} is invalid: expected a string")
    return value


def signature_params(factory: Callable) -> dict[str, tuple[Any, tuple[Constraint, ...], Any]]:
    """{name: (type, constraints, default)} for a factory's keyword parameters."""
    try:
        return dict(_signature_params(factory))  # a copy: the cached one is shared
    except TypeError:  # an unhashable callable: read it each time
        return dict(_signature_params.__wrapped__(factory))


@functools.lru_cache(maxsize=None)  # get_type_hints compiles every string annotation, each call: ~0.5 ms
def _signature_params(factory: Callable) -> dict[str, tuple[Any, tuple[Constraint, ...], Any]]:
    hints = typing.get_type_hints(factory, include_extras=True)
    out = {}
    for name, p in inspect.signature(factory).parameters.items():
        if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        tp = hints.get(name, Any)
        constraints: tuple[Constraint, ...] = ()
        if typing.get_origin(tp) is typing.Annotated:
            tp, *extra = typing.get_args(tp)
            constraints = tuple(c for c in extra if isinstance(c, Constraint))
        out[name] = (tp, constraints, p.default)
    return out


def bind(factory: Callable, params: Mapping[str, Any], where: str = "", skip: tuple[str, ...] = ()) -> dict:
    """Validated keyword arguments for ``factory`` (defaults filled in), or ConfigError."""
    spec = {k: v for k, v in signature_params(factory).items() if k not in skip}
    prefix = f"{where}." if where else ""
    unknown = [k for k in params if k not in spec]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(spec), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown key '{prefix}{key}'{hint}; allowed keys: {', '.join(sorted(spec)) or 'none'}"
        )
    bound = {}
    for name, (tp, constraints, default) in spec.items():
        full = f"{prefix}{name}"
        if name in params:
            value = _convert(params[name], tp, full)
        elif default is not inspect.Parameter.empty:
            value = default
        else:
            raise ConfigError(f"missing value for '{full}' ({_describe(tp)})")
        if value is not None:
            shown = params.get(name, value)  # the value as the user wrote it
            for c in constraints:
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if not c.check(item):
                        raise ConfigError(f"{full}={shown!r} is invalid: must be {c.text}")
        bound[name] = value
    return bound


# --- parameter families: declared once, shared by every factory that takes them --------------

@dataclass(frozen=True)
class Family:
    """The keyword parameters of ``declaration`` (a function whose signature is the family: names,
    types, constraints, defaults), taken by another factory: all of them or ``only`` some, under
    ``prefix`` (``attn_sigma`` for ``sigma``), with ``defaults`` replacing the declared ones."""

    declaration: Callable
    prefix: str = ""
    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = None

    def parameters(self) -> tuple[list[inspect.Parameter], dict]:
        hints = typing.get_type_hints(self.declaration, include_extras=True)
        params, types = [], {}
        for name, p in inspect.signature(self.declaration).parameters.items():
            if (self.only and name not in self.only) or name in self.exclude:
                continue
            default = (self.defaults or {}).get(name, p.default)
            params.append(inspect.Parameter(self.prefix + name, inspect.Parameter.KEYWORD_ONLY, default=default))
            types[self.prefix + name] = hints.get(name, Any)
        return params, types

    def pick(self, params: Mapping[str, Any]) -> dict:
        """This family's values among a factory's keyword arguments, under their declared names."""
        names = [p.name for p in self.parameters()[0]]
        return {name[len(self.prefix):]: params[name] for name in names if name in params}


def takes(*families: Family) -> Callable:
    """Give a factory ``def f(*, own..., **params)`` the parameters of ``families`` beside its own:
    its signature (what :func:`bind` validates, ``attnopt list`` shows) then lists them all, and a
    call fills in every default, so each default is written once, in its family's declaration."""

    def wrap(factory: Callable) -> Callable:
        hints = typing.get_type_hints(factory, include_extras=True)
        own = [p for p in inspect.signature(factory).parameters.values() if p.kind is not p.VAR_KEYWORD]
        params, types = list(own), {k: v for k, v in hints.items() if k != "return"}
        for fam in families:
            more, more_types = fam.parameters()
            params += more
            types.update(more_types)
        signature = inspect.Signature(params, return_annotation=hints.get("return", inspect.Signature.empty))

        @functools.wraps(factory)
        def with_defaults(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return factory(*bound.args, **bound.kwargs)

        with_defaults.__signature__ = signature
        with_defaults.__annotations__ = {**types, "return": signature.return_annotation}
        del with_defaults.__wrapped__  # the signature above is the whole truth
        return with_defaults

    return wrap


def defaults(factory: Callable, skip: tuple[str, ...] = ()) -> dict:
    """``{name: default}`` of a factory's keyword parameters, each converted to its annotated type
    (``2`` for a float becomes ``2.0``), so that a config composed from them is the config a YAML
    file writing ``2.0`` gave and hashes the same (attnopt.rundir.config_hash)."""
    out = {}
    for name, (tp, _constraints, default) in signature_params(factory).items():
        if name in skip:
            continue
        if default is inspect.Parameter.empty:
            raise TypeError(f"{factory.__qualname__}: parameter '{name}' has no default, so no config can hold it")
        out[name] = default if default is None else _convert(default, tp, name)
    return out
