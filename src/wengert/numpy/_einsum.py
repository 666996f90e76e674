"""Traced ``einsum``: parse as NumPy does, take repeated-index diagonals, sum
away indices only one operand has, drop broadcast size-1 axes, then contract
pairwise (each contraction one ``einsum`` primitive whose transpose is again
an einsum)."""

from __future__ import annotations

import string

import numpy as np

from .. import _prims as P
from ._base import index_gather, reshape_t, shape_of

_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _sublist_to_str(sub):
    out = []
    for s in sub:
        if s is Ellipsis:
            out.append("...")
        else:
            s = int(s)
            if not 0 <= s < 52:
                raise ValueError(f"einsum: subscript {s} in a sublist is not in [0, 52)")
            out.append(_LETTERS[s])
    return "".join(out)


def interleaved_to_str(args):
    """``einsum(op0, sub0, op1, sub1, ..., [sublistout])`` as (subscripts, operands)."""
    ops = list(args[0::2][: len(args) // 2])
    subs = [_sublist_to_str(s) for s in args[1::2][: len(args) // 2]]
    spec = ",".join(subs)
    if len(args) % 2:
        spec += "->" + _sublist_to_str(args[-1])
    return spec, ops


def _check_term(t, where):
    bad = [c for c in t.replace("...", "") if c not in _LETTERS]
    if bad or t.count("...") > 1 or "." in t.replace("...", ""):
        raise ValueError(f"einsum: invalid subscripts '{t}' in {where} (letters a-z, A-Z and one '...')")


def parse(subscripts, shapes):
    """Terms with '...' replaced by fresh letters (right-aligned, as NumPy
    broadcasts them) and the output subscripts (implicit: '...' then the
    letters that occur once, in alphabetical order)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    subscripts = subscripts.replace(" ", "")
    if subscripts.count("->") > 1:
        raise ValueError("einsum: subscripts contain '->' more than once")
    explicit = "->" in subscripts
    ins, out = subscripts.split("->") if explicit else (subscripts, None)
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    for t in terms:
        _check_term(t, "an input")
    used = set(subscripts)
    spare = [c for c in _LETTERS if c not in used]
    ell_nd = 0
    for t, s in zip(terms, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            if k < 0:
                raise ValueError(f"einsum: subscripts '{t}' have more dimensions than the operand of shape {s}")
            ell_nd = max(ell_nd, k)
    if ell_nd > len(spare):
        raise ValueError("einsum: too many dimensions under '...'")
    ell = "".join(spare[:ell_nd])
    new_terms = []
    for t, s in zip(terms, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[ell_nd - k:])
        if len(t) != len(s):
            raise ValueError(f"einsum: subscripts '{t}' don't match an operand of shape {s}")
        new_terms.append(t)
    if explicit:
        _check_term(out, "the output")
        if ell_nd and "..." not in out:
            raise ValueError("einsum: the operands have dimensions under '...' but the output "
                             "subscripts have no '...' to place them")
        out = out.replace("...", ell)
        seen = set("".join(new_terms))
        for c in out:
            if c not in seen:
                raise ValueError(f"einsum: output subscript '{c}' does not appear in an input")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts '{out}' repeat an index")
    else:
        counts: dict = {}
        for t in new_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return new_terms, out


def _diagonalise(term, x):
    """Remove repeated indices of one operand by gathering its diagonal."""
    uniq = "".join(dict.fromkeys(term))
    if uniq == term:
        return term, x
    shape = shape_of(x)
    for c in uniq:
        ns = {n for t, n in zip(term, shape) if t == c}
        if len(ns) > 1:
            raise ValueError(f"einsum: the dimensions of repeated index '{c}' in '{term}' differ ({sorted(ns)})")
    if isinstance(x, np.ndarray) or not hasattr(x, "_trace"):
        return uniq, np.einsum(f"{term}->{uniq}", x)
    return uniq, index_gather(x, lambda pos: np.einsum(f"{term}->{uniq}", pos))


def _drop_axes(term, x, drop):
    """Drop the size-1 axes of ``x`` whose indices are in ``drop``."""
    keep = [i for i, c in enumerate(term) if c not in drop]
    if len(keep) == len(term):
        return term, x
    shape = shape_of(x)
    new = tuple(shape[i] for i in keep)
    t = "".join(term[i] for i in keep)
    if hasattr(x, "_trace"):
        return t, reshape_t(x, new)
    return t, np.reshape(x, new)


def traced_einsum(subscripts, operands):
    from . import _funcs as F

    terms, out = parse(subscripts, [shape_of(o) for o in operands])
    pairs = [_diagonalise(t, o) for t, o in zip(terms, operands)]
    # every index's size; size 1 broadcasts against any other size (NumPy)
    sizes: dict = {}
    for t, o in pairs:
        for c, n in zip(t, shape_of(o)):
            m = sizes.get(c)
            if m is None or m == 1:
                sizes[c] = n
            elif n != 1 and n != m:
                raise ValueError(f"einsum: operands could not be broadcast together: "
                                 f"index '{c}' has sizes {m} and {n}")
    # a broadcast size-1 axis is an operand constant along that index: drop it
    pairs = [_drop_axes(t, o, {c for c, n in zip(t, shape_of(o)) if n == 1 and sizes[c] != 1})
             for t, o in pairs]
    # sum away each index that only one operand has and the output lacks
    counts: dict = {}
    for t, _ in pairs:
        for c in t:
            counts[c] = counts.get(c, 0) + 1
    reduced = []
    for t, o in pairs:
        axes = tuple(i for i, c in enumerate(t) if counts[c] == 1 and c not in out)
        if axes:
            o = F.sum(o, axis=axes)
            t = "".join(c for i, c in enumerate(t) if i not in axes)
        reduced.append((t, o))
    cur_t, cur = reduced[0]
    rest = reduced[1:]
    if not rest:
        # every index of the one operand is in the output now
        if cur_t != out:
            cur = F.transpose(cur, [cur_t.index(c) for c in out])
        return cur
    size_param = tuple(sorted(sizes.items()))
    ops = list(reduced)
    for i, j in _contraction_order(ops, out):
        (tj, oj), (ti, oi) = ops.pop(j), ops.pop(i)  # j > i
        if not ops:
            res = out
        else:
            later = set(out).union(*[set(tt) for tt, _ in ops])
            res = "".join(c for c in dict.fromkeys(ti + tj) if c in later)
        ops.append((res, P.einsum(oi, oj, f"{ti},{tj}->{res}", size_param)))
    return ops[0][1]


def _contraction_order(ops, out):
    """Pairs (i, j), i < j, of operand positions to contract in turn (the
    result goes last, as in ``numpy.einsum_path``): NumPy's greedy order
    for three or more operands, so no needless outer product is formed."""
    n = len(ops)
    if n == 2:
        return [(0, 1)]
    spec = ",".join(t for t, _ in ops) + "->" + out
    dummies = [np.broadcast_to(np.empty((), np.float64), shape_of(o)) for _, o in ops]
    path = np.einsum_path(spec, *dummies, optimize="greedy")[0][1:]
    if len(path) == n - 1 and all(len(step) == 2 for step in path):
        return [tuple(sorted(step)) for step in path]
    return [(0, 1)] * (n - 1)  # any pairwise order is right; this one is plain
