"""Traced ``einsum``: parse, take repeated-index diagonals, contract pairwise."""

from __future__ import annotations

import string

import numpy as np

from .. import _prims as P
from ._base import index_gather, shape_of


def _parse(subscripts, operands):
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
        explicit = True
    else:
        ins, out, explicit = subscripts, None, False
    terms = ins.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(operands)} operands")
    used = set(subscripts)
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    ell_nd = 0
    for t, o in zip(terms, operands):
        if "..." in t:
            ell_nd = max(ell_nd, len(shape_of(o)) - (len(t) - 3))
    ell = "".join(spare[:ell_nd])
    new_terms = []
    for t, o in zip(terms, operands):
        if "..." in t:
            k = len(shape_of(o)) - (len(t) - 3)
            t = t.replace("...", ell[ell_nd - k:])
        if len(t) != len(shape_of(o)):
            raise ValueError(f"einsum: subscripts '{t}' don't match operand of shape {shape_of(o)}")
        new_terms.append(t)
    if explicit:
        out = out.replace("...", ell)
    else:
        counts = {}
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
    if isinstance(x, np.ndarray) or not hasattr(x, "_trace"):
        return uniq, np.einsum(f"{term}->{uniq}", x)
    return uniq, index_gather(x, lambda pos: np.einsum(f"{term}->{uniq}", pos))


def traced_einsum(subscripts, operands):
    terms, out = _parse(subscripts, operands)
    sizes = {}
    for t, o in zip(terms, operands):
        for c, n in zip(t, shape_of(o)):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: index '{c}' has sizes {sizes[c]} and {n}")
    pairs = [_diagonalise(t, o) for t, o in zip(terms, operands)]
    size_param = tuple(sorted(sizes.items()))
    cur_t, cur = pairs[0]
    rest = pairs[1:]
    if not rest:
        from . import _funcs as F
        summed = tuple(i for i, c in enumerate(cur_t) if c not in out)
        if summed:
            cur = F.sum(cur, axis=summed)
            cur_t = "".join(c for c in cur_t if c not in out)
        return F.transpose(cur, [cur_t.index(c) for c in out]) if cur_t != out else cur
    for k, (t, o) in enumerate(rest):
        later = set(out).union(*[set(tt) for tt, _ in rest[k + 1:]])
        if k == len(rest) - 1:
            res = out
        else:
            res = "".join(c for c in dict.fromkeys(cur_t + t) if c in later)
        cur = P.einsum(cur, o, f"{cur_t},{t}->{res}", size_param)
        cur_t = res
    return cur
