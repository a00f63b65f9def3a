"""Parsing of ref expressions: ``name``, ``name@``, ``name~N``, ``name^N``, chained."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.core.errors import InvalidName

_MOD_RE = re.compile(r"([~^])(\d*)")


@dataclass(frozen=True, slots=True)
class RefExpr:
    base: str
    #: ("~", n): n-th first-parent ancestor; ("^", n): n-th parent (1-based; ^0 is the commit).
    modifiers: tuple[tuple[str, int], ...]
    committed_only: bool  # trailing "@": the branch's committed state, without staging


def parse_ref(expr: str) -> RefExpr:
    """Split a ref expression into its base name and ancestry modifiers.

    Raises:
        InvalidName: empty base or malformed modifiers.
    """
    committed_only = expr.endswith("@")
    body = expr[:-1] if committed_only else expr
    cut = len(body)
    for i, ch in enumerate(body):
        if ch in "~^":
            cut = i
            break
    base, rest = body[:cut], body[cut:]
    if not base:
        raise InvalidName(f"invalid ref expression {expr!r}")
    mods: list[tuple[str, int]] = []
    pos = 0
    while pos < len(rest):
        m = _MOD_RE.match(rest, pos)
        if m is None or m.end() == pos:
            raise InvalidName(f"invalid ref expression {expr!r}")
        n = int(m.group(2)) if m.group(2) else 1
        mods.append((m.group(1), n))
        pos = m.end()
    return RefExpr(base=base, modifiers=tuple(mods), committed_only=committed_only)
