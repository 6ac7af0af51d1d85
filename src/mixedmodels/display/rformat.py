"""R's number and label formatting rules, reproduced so printed output matches R's.

Each function mirrors one R function: :func:`format_real` is ``format(x, digits, nsmall)``
(C ``formatReal``: common width and decimals for a vector), :func:`zapsmall`,
:func:`round_half` is ``round``, :func:`format_pval` is ``format.pval`` and
:func:`abbreviate` is ``abbreviate`` (C ``stripchars``). Nothing here knows about models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# R's KP_MAX: the largest power of ten tabulated in format.c.
_KP_MAX = 22
# Machine epsilon, R's .Machine$double.eps.
DOUBLE_EPS = 2.220446049250313e-16


def _is_missing(x: float | None) -> bool:
    return x is None


def _scientific(x: float, digits: int) -> tuple[bool, int, int, bool]:
    """Sign, exponent, significant digits and rounding-widens flag of ``x`` (C ``scientific``).

    Parameters
    ----------
    x : float
        A finite number.
    digits : int
        Number of significant digits wanted.

    Returns
    -------
    neg : bool
        Whether ``x < 0``.
    kpower : int
        Exponent of ten: ``|x| = alpha 10^kpower`` with ``1 <= alpha < 10`` after rounding.
    nsig : int
        Significant digits left after dropping trailing zeros (at most ``digits``).
    roundingwidens : bool
        Whether rounding to ``digits`` digits adds a digit left of the point.
    """
    if x == 0.0:
        return False, 0, 1, False
    neg = x < 0.0
    r = abs(x)
    kp = math.floor(math.log10(r)) - digits + 1
    r_prec = r / 10.0**kp if kp >= 0 else r * 10.0 ** (-kp)
    if r_prec < 10.0 ** (digits - 1):
        r_prec *= 10.0
        kp -= 1
    alpha = float(round(r_prec))  # round half even, as nearbyint
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = min(max(digits - kpower, 0), _KP_MAX)
    fuzz = 0.5 / 10.0**rgt
    widens = 0 < kpower <= _KP_MAX and r < 10.0**kpower - fuzz
    return neg, kpower, nsig, widens


def _drop_negative_zero(x: float) -> float:
    return 0.0 if x == 0.0 else x


def format_real(
    values: Iterable[float | None], digits: int = 7, nsmall: int = 0
) -> list[str]:
    """Format numbers with a common layout, as R's ``format(x, digits = , nsmall = )``.

    Every number gets the same number of decimals (or the same scientific layout): the
    fewest that show each at least ``digits`` significant digits, trailing zeros dropped.
    Fixed notation is used unless scientific notation is narrower. Strings are
    right-justified to a common width.

    Parameters
    ----------
    values : iterable of float or None
        The numbers; None is R's ``NA`` and prints as ``"NA"``, NaN as ``"NaN"``.
    digits : int
        Significant digits (R's ``digits``).
    nsmall : int
        Minimum number of decimals in fixed notation.

    Returns
    -------
    list of str
        One string per value, all the same width.

    Examples
    --------
    >>> format_real([612.1, 35.07, 654.94], digits=4)
    ['612.10', ' 35.07', '654.94']
    """
    xs = [None if v is None else float(v) for v in values]
    rgt = mxl = mxsl = mxns = None
    mxe = mne = None
    neg_any = False
    specials_width = 0
    for x in xs:
        if x is None or not math.isfinite(x):
            text = _special(x)
            specials_width = max(specials_width, len(text))
            continue
        neg, kpower, nsig, widens = _scientific(x, digits)
        left = kpower + 1
        if widens:
            left -= 1
        sleft = int(neg) + (1 if left <= 0 else left)
        right = nsig - left
        neg_any = neg_any or neg
        rgt = right if rgt is None else max(rgt, right)
        mxl = left if mxl is None else max(mxl, left)
        mxsl = sleft if mxsl is None else max(mxsl, sleft)
        mxns = nsig if mxns is None else max(mxns, nsig)
        mxe = kpower if mxe is None else max(mxe, kpower)
        mne = kpower if mne is None else min(mne, kpower)
    if mxl is None:  # nothing finite
        return [_special(x).rjust(specials_width) for x in xs]
    assert rgt is not None and mxsl is not None and mxns is not None
    assert mxe is not None and mne is not None
    if mxl < 0:
        mxsl = 1 + int(neg_any)
    rgt = max(rgt, 0)
    width_fixed = mxsl + rgt + (rgt != 0)
    exp_digits = 2 if (mxe >= 100 or mne <= -99) else 1
    dec_sci = mxns - 1
    width_sci = int(neg_any) + (dec_sci > 0) + dec_sci + 4 + exp_digits
    if width_fixed <= width_sci:
        decimals = max(rgt, nsmall)
        width = mxsl + decimals + (decimals != 0)
        width = max(width, specials_width)
        out = []
        for x in xs:
            if x is None or not math.isfinite(x):
                out.append(_special(x).rjust(width))
            else:
                out.append(f"{_drop_negative_zero(x):.{decimals}f}".rjust(width))
        return out
    width = max(width_sci, specials_width)
    out = []
    for x in xs:
        if x is None or not math.isfinite(x):
            out.append(_special(x).rjust(width))
        else:
            out.append(_sci_text(_drop_negative_zero(x), dec_sci, exp_digits).rjust(width))
    return out


def _sci_text(x: float, decimals: int, exp_digits: int) -> str:
    """C's ``%.*e`` with R's exponent width (two digits, three when needed)."""
    mantissa, exponent = f"{x:.{decimals}e}".split("e")
    sign = exponent[0]
    digits = exponent[1:].lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits.rjust(2 if exp_digits == 1 else 3, '0')}"


def _special(x: float | None) -> str:
    if x is None:
        return "NA"
    if math.isnan(x):
        return "NaN"
    return "Inf" if x > 0 else "-Inf"


def format_number(value: float | None, digits: int = 7, nsmall: int = 0) -> str:
    """Format one number as R's ``format(x, digits = )`` (no padding)."""
    return format_real([value], digits=digits, nsmall=nsmall)[0]


def round_half(x: float, decimals: int) -> float:
    """R's ``round(x, decimals)`` (correct rounding of the binary value); -0 becomes 0."""
    if not math.isfinite(x):
        return x
    return _drop_negative_zero(round(x, decimals))


def zapsmall(values: Sequence[float], digits: int = 7) -> list[float]:
    """R's ``zapsmall`` (R 4.2, as lme4's reference output): round so that numbers tiny
    next to the largest become 0.

    Parameters
    ----------
    values : sequence of float
        Finite numbers (NaN is kept as is).
    digits : int
        Significant digits kept relative to the largest absolute value.
    """
    finite = [abs(v) for v in values if math.isfinite(v)]
    if not finite:
        return list(values)
    mx = max(finite)
    # R < 4.4 passes digits - log10(mx) unrounded; round() takes floor(digits + 0.5).
    wanted = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    places = math.floor(wanted + 0.5)
    return [round_half(v, places) for v in values]


def format_pval(
    pvalues: Sequence[float | None], digits: int, eps: float = DOUBLE_EPS
) -> list[str]:
    """R's ``format.pval``: p-values, with ``"< eps"`` for those below ``eps``.

    Parameters
    ----------
    pvalues : sequence of float or None
        P-values (None for NA).
    digits : int
        Significant digits.
    eps : float
        Values below this print as ``"<2e-16"``-style bounds.
    """
    out: list[str] = ["NA" if p is None or math.isnan(p) else "" for p in pvalues]
    idx_ok = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    small = [i for i in idx_ok if pvalues[i] < eps]  # type: ignore[operator]
    rest = [i for i in idx_ok if i not in small]
    rendered: list[str] = []
    if rest:
        vals = [float(pvalues[i]) for i in rest]  # type: ignore[arg-type]
        fixp = [math.floor(math.log10(v if v > 0 else 1e-50)) >= -3 or v == 0 for v in vals]
        texts = [""] * len(vals)
        for flag in (True, False):
            chosen = [k for k, f in enumerate(fixp) if f is flag]
            if chosen:
                for k, t in zip(chosen, format_real([vals[k] for k in chosen], digits),
                                strict=True):
                    texts[k] = t
        for i, t in zip(rest, texts, strict=True):
            out[i] = t
        rendered = texts
    if small:
        d = max(1, digits - 2)
        if rendered:
            nc = max(len(t) for t in rendered)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        bound = "<" + sep + format_number(eps, digits=d)
        for i in small:
            out[i] = bound
    return out


def signif_stars(pvalues: Sequence[float | None]) -> list[str]:
    """R's significance codes (``symnum`` with cut points 0.001, 0.01, 0.05, 0.1)."""
    out = []
    for p in pvalues:
        if p is None or math.isnan(p):
            out.append("")
        elif p <= 0.001:
            out.append("***")
        elif p <= 0.01:
            out.append("**")
        elif p <= 0.05:
            out.append("*")
        elif p <= 0.1:
            out.append(".")
        else:
            out.append(" ")
    return out


SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


# ---------------------------------------------------------------------- abbreviate
_VOWELS = frozenset("aeiou")


def _strip_chars(name: str, minlength: int) -> str:
    """One name shortened to ``minlength`` characters, as R's C ``stripchars``."""
    buf = list(name.lstrip())
    if len(buf) < minlength:
        return "".join(buf)

    def at(i: int) -> str:
        return buf[i] if 0 <= i < len(buf) else "\0"

    def first_char(i: int) -> bool:
        return at(i - 1).isspace()

    def last_char(i: int) -> bool:
        nxt = at(i + 1)
        return not at(i - 1).isspace() and (nxt == "\0" or nxt.isspace())

    def is_lower(c: str) -> bool:
        return c.isascii() and c.islower()

    def delete(i: int) -> None:
        if i < len(buf):
            del buf[i]

    upper = len(buf) - 1
    nspace = 0
    trailing = True
    for i in range(upper, 0, -1):
        if at(i).isspace():
            if trailing:
                del buf[i:]
            else:
                nspace += 1
        else:
            trailing = False
        if len(buf) - nspace <= minlength:
            return _drop_spaces(buf, minlength)

    tests = (
        lambda i: at(i) in _VOWELS and last_char(i),
        lambda i: at(i) in _VOWELS and not first_char(i),
        lambda i: is_lower(at(i)) and last_char(i),
        lambda i: is_lower(at(i)) and not first_char(i),
    )
    for test in tests:
        for i in range(upper, 0, -1):
            if test(i):
                delete(i)
            if len(buf) - nspace <= minlength:
                return _drop_spaces(buf, minlength)

    upper = len(buf) - 1
    for i in range(upper, 0, -1):
        if not first_char(i) and not at(i).isspace():
            delete(i)
        if len(buf) - nspace <= minlength:
            return _drop_spaces(buf, minlength)
    return _drop_spaces(buf, minlength)


def _drop_spaces(buf: list[str], minlength: int) -> str:
    if len(buf) > minlength:
        buf = [buf[0]] + [c for c in buf[1:] if not c.isspace()]
    return "".join(buf)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", not strict).

    Lower-case vowels are dropped from the right, then lower-case letters, then any
    character but the first; abbreviations that collide are redone with a larger
    ``minlength`` until they are unique.

    Examples
    --------
    >>> abbreviate(["(Intercept)", "Days"], 6)
    ['(Intr)', 'Days']
    """
    if minlength <= 0:
        return ["" for _ in names]
    cleaned = [n.strip(" ") for n in names]
    unique = list(dict.fromkeys(cleaned))
    result = list(unique)
    redo = [True] * len(unique)
    length = minlength
    while True:
        for i, flag in enumerate(redo):
            if flag:
                result[i] = _strip_chars(unique[i], length)
        seen: set[str] = set()
        dup = []
        for r in result:
            dup.append(r in seen)
            seen.add(r)
        if not any(dup):
            break
        length += 1
        clashing = {r for r, d in zip(result, dup, strict=True) if d}
        redo = [d or r in clashing for r, d in zip(result, dup, strict=True)]
    lookup = dict(zip(unique, result, strict=True))
    return [lookup[n] for n in cleaned]
