"""API Gateway path templates (`/items/{id}`, `/{proxy+}`) and which one a request matches.

API Gateway prefers the most specific match: at each segment a literal beats a `{param}`,
which beats a greedy `{name+}`. The same rule serves REST resources and HTTP API routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

_LITERAL, _PARAM, _GREEDY = 2, 1, 0


@dataclass(frozen=True)
class Match(Generic[T]):
    target: T
    template: str
    parameters: dict[str, str]


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def match_template(template: str, path: str) -> tuple[dict[str, str], tuple[int, ...]] | None:
    """Path parameters (URL-decoded) and a specificity key, or None if `path` does not match."""
    wanted, given = _segments(template), _segments(path)
    parameters: dict[str, str] = {}
    rank: list[int] = []
    for index, part in enumerate(wanted):
        if part.startswith("{") and part.endswith("+}"):
            rest = given[index:]
            if not rest or index != len(wanted) - 1:
                return None
            parameters[part[1:-2]] = unquote("/".join(rest))
            rank.append(_GREEDY)
            return parameters, tuple(rank)
        if index >= len(given):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = unquote(given[index])
            rank.append(_PARAM)
        elif part == given[index]:
            rank.append(_LITERAL)
        else:
            return None
    if len(given) != len(wanted):
        return None
    return parameters, tuple(rank)


def best_match(candidates: Iterable[tuple[str, T]], path: str) -> Match[T] | None:
    """The most specific (template, target) for `path` (literal > {param} > {greedy+})."""
    best: tuple[tuple[int, ...], Match[T]] | None = None
    for template, target in candidates:
        found = match_template(template, path)
        if found is None:
            continue
        parameters, rank = found
        # Longer exact matches outrank a greedy match that swallowed the same segments.
        key = (*rank, 3)
        if best is None or key > best[0]:
            best = (key, Match(target, template, parameters))
    return best[1] if best else None
