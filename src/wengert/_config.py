"""``wg.config``: runtime switches (``debug_nans``, ``debug_ir``).

``wg.config.debug_nans = True`` (or ``WENGERT_DEBUG_NANS=1`` in the
environment, or ``wg.config.update("debug_nans", True)`` as in JAX) makes
every transformation raise :class:`NanError` (a ``FloatingPointError``) at
the first primitive whose output -- primal, tangent (forward mode) or
adjoint (reverse sweep) -- is NaN while its inputs were not.  The message
names the primitive, its row in the Wengert list and the user's source line.

Switching it on swaps checking versions of ``JVPTrace.process``,
``BatchTrace.process`` and the backward sweep in; switching it off swaps the
originals back, so the checks cost nothing while off.  ``jit`` compiles a
checking version of the code when the flag is on at trace time.  Plain NumPy
calls outside any transformation are not checked.

>>> import wengert as wg, wengert.numpy as wnp
>>> wg.config.debug_nans = True
>>> try:
...     wg.grad(lambda x: wnp.sqrt(x - 1.0))(0.0)
... except FloatingPointError as e:
...     print(str(e).split(":")[0])
debug_nans
>>> wg.config.debug_nans = False
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import _core
from ._core import JVPTrace, JVPTracer, LinVar, Tracer, _accumulate

__all__ = ["config", "Config", "NanError"]


class NanError(FloatingPointError):
    """Raised by ``wg.config.debug_nans`` at the first primitive making a NaN."""


def _nan(x) -> bool:
    """Is ``x`` a concrete value holding a NaN?"""
    if isinstance(x, Tracer) or x is None:
        return False
    try:
        import numpy as np
        return bool(np.isnan(x).any())
    except TypeError:
        return False


# ----------------------------------------------------------------------------
# Bookkeeping: operation rows and the origin of each tape equation

_ROWS: dict = {}     # id(trace) -> number of primitives it processed
_ORIGIN: dict = {}   # id(tape equation) -> (primitive name, user location, row)


def _next_row(trace) -> int:
    k = id(trace)
    n = _ROWS.get(k, 0) + 1
    if n == 1 and len(_ROWS) > 4096:
        _ROWS.clear()
    _ROWS[k] = n
    return n


def _where() -> str | None:
    from ._ir import user_frame
    f = user_frame(sys._getframe(1))
    if f is None:
        return None
    return f"{f.f_code.co_filename}:{f.f_lineno}"


def _line_text(loc: str | None) -> str:
    if not loc:
        return ""
    import linecache
    fn, _, ln = loc.rpartition(":")
    try:
        text = linecache.getline(fn, int(ln)).strip()
    except ValueError:
        text = ""
    return f"\n    {text}" if text else ""


def _raise(kind: str, prim: str, row, loc, extra: str = ""):
    where = f"\n  at {loc}" if loc else ""
    raise NanError(
        f"debug_nans: primitive `{prim}` produced NaN in the {kind} from inputs without "
        f"NaN, at row {row} of the Wengert list{extra}{where}{_line_text(loc)}")


# ----------------------------------------------------------------------------
# Checking versions of the core's hot functions

_ORIG: dict = {}


def _checking_jvp_process(self, p, args, params):
    if len(args) == 2:
        return self.process2(p, args[0], args[1], params)
    return _checked_jvp(self, p, args, params, _ORIG["jvp"], args)


def _checking_jvp_process2(self, p, x, y, params):
    return _checked_jvp(self, p, (x, y), params, _ORIG["jvp2"], None)


def _checked_jvp(self, p, args, params, orig, full_args):
    tape = None
    primals = []
    tangents = []
    for a in args:
        if type(a) is JVPTracer and a._trace is self:
            primals.append(a.primal)
            t = a.tangent
            tangents.append(t)
            if tape is None and type(t) is LinVar:
                tape = t._trace
        else:
            primals.append(a)
    n0 = len(tape.tape) if tape is not None else 0
    row = _next_row(self)
    if full_args is None:
        out = orig(self, p, args[0], args[1], params)
    else:
        out = orig(self, p, full_args, params)
    loc = None
    if tape is not None and len(tape.tape) > n0:
        loc = _where()
        for eq in tape.tape[n0:]:
            _ORIGIN[id(eq)] = (p.name, loc, row)
    outs = out if p.multiple_results else (out,)
    for o in outs:
        if type(o) is JVPTracer and o._trace is self:
            val, tan = o.primal, o.tangent
        else:
            val, tan = o, None
        if _nan(val) and not any(_nan(x) for x in primals):
            _raise("primal", p.name, row, loc or _where(), " (forward pass)")
        if tan is not None and _nan(tan) and not any(_nan(x) for x in primals) \
                and not any(_nan(x) for x in tangents):
            _raise("tangent", p.name, row, loc or _where(), " (forward mode)")
    return out


def _checking_batch_process(self, p, args, params):
    out = _ORIG["batch"](self, p, args, params)
    vals = [a.val if getattr(a, "_trace", None) is self else a for a in args]
    outs = out if p.multiple_results else (out,)
    for o in outs:
        v = o.val if getattr(o, "_trace", None) is self else o
        if _nan(v) and not any(_nan(x) for x in vals):
            _raise("primal", p.name, _next_row(self), _where(), " (under vmap)")
    return out


def _checking_backward_pass(trace, seeds):
    from ._ir import CTX
    for v, ct in seeds:
        if type(v) is LinVar and v._trace is trace and ct is not None:
            _accumulate(v, ct)
    tape = trace.tape
    prev = CTX.origin
    try:
        for i in range(len(tape) - 1, -1, -1):
            eq = tape[i]
            ct = eq.ct
            if ct is None:
                continue
            eq.ct = None
            args = eq.args
            lin = [type(a) is LinVar and a._trace is trace for a in args]
            targs = [None if f else a for a, f in zip(args, lin)]
            origin = _ORIGIN.get(id(eq))
            CTX.origin = (f"adjoint of {origin[0]}", origin[1]) if origin else prev
            cts = eq.prim.transpose(ct, *targs, *eq.params)
            for a, f, c in zip(args, lin, cts):
                if not f or c is None:
                    continue
                if _nan(c) and not _nan(ct) and not any(_nan(x) for x in targs):
                    if origin:
                        extra = (f"'s linear tape (the derivative of `{origin[0]}`, forward "
                                 f"row {origin[2]}; reverse sweep, tape row {i + 1})")
                        loc = origin[1]
                    else:
                        extra = f"'s linear tape (reverse sweep, tape row {i + 1})"
                        loc = _where()
                    _raise("adjoint", eq.prim.name, i + 1, loc, extra)
                _accumulate(a, c)
    finally:
        CTX.origin = prev
        for eq in tape:
            _ORIGIN.pop(id(eq), None)
        tape.clear()


def _install(on: bool) -> None:
    vm = sys.modules.get("wengert._vmap")
    if not _ORIG:
        _ORIG["jvp"] = JVPTrace.__dict__["process"]
        _ORIG["jvp2"] = JVPTrace.__dict__.get("process2", JVPTrace.process2)
    if vm is not None and "batch" not in _ORIG:
        _ORIG["batch"] = vm.BatchTrace.__dict__["process"]
    if on:
        JVPTrace.process = _checking_jvp_process
        JVPTrace.process2 = _checking_jvp_process2
        if vm is not None:
            vm.BatchTrace.process = _checking_batch_process
        _core._debug_hooks["backward_pass"] = _checking_backward_pass
    else:
        JVPTrace.process = _ORIG["jvp"]
        JVPTrace.process2 = _ORIG["jvp2"]
        if "batch" in _ORIG and vm is not None:
            vm.BatchTrace.process = _ORIG["batch"]
        _core._debug_hooks.clear()
        _ROWS.clear()
        _ORIGIN.clear()
    jit_mod = sys.modules.get("wengert._jit")
    if jit_mod is not None:
        jit_mod._clear_fast_caches()


# ----------------------------------------------------------------------------
# The config object


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


class Config:
    """Runtime switches of wengert (``wg.config``).

    * ``debug_nans`` (bool, default from ``WENGERT_DEBUG_NANS``): raise
      :class:`NanError` at the first primitive producing a NaN.
    * ``debug_ir`` (bool, default from ``WENGERT_DEBUG_IR``): ``jit`` checks
      its Wengert list after tracing and after every optimiser pass
      (:func:`wengert._ir.check_graph`: each variable defined once before
      use, each equation's shape and dtype recomputed from its inputs) and
      raises :class:`wengert._ir.IRError` naming the pass and the equation.
      The test suite runs with it on.

    >>> import wengert as wg
    >>> was, wg.config.debug_ir = wg.config.debug_ir, True
    >>> f = wg.jit(lambda x: x * 2.0 + 0.0)
    >>> float(f(1.5)), float(f(2.5))     # the second call runs the checked, optimised code
    (3.0, 5.0)
    >>> wg.config.debug_ir = was
    """

    _NAMES = ("debug_nans", "debug_ir")

    def __init__(self):
        self._debug_nans = False
        self.debug_ir = _env_flag("WENGERT_DEBUG_IR")

    @property
    def debug_nans(self) -> bool:
        return self._debug_nans

    @debug_nans.setter
    def debug_nans(self, value: bool) -> None:
        value = bool(value)
        if value != self._debug_nans:
            self._debug_nans = value
            _install(value)

    def update(self, name: str, value: Any) -> None:
        """JAX-style ``config.update("debug_nans", True)`` (``jax_`` prefix accepted)."""
        key = name[4:] if name.startswith("jax_") else name
        if key not in self._NAMES:
            raise AttributeError(f"wg.config.update: unknown option {name!r}; known: "
                                 f"{', '.join(self._NAMES)}")
        setattr(self, key, value)

    def __repr__(self):
        return f"wg.config(debug_nans={self.debug_nans}, debug_ir={self.debug_ir})"


config = Config()
if _env_flag("WENGERT_DEBUG_NANS"):
    config.debug_nans = True
