"""Exceptions raised by the planning engine.

Every exception here subclasses :class:`ValueError`, carries a message a planner can act on
(file, row, field, value, what was expected, how to fix it) and never needs a traceback to be
understood. The CLI prints ``str(err)`` and exits non-zero; the API maps them to 4xx answers in
``api/errors.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable


class CirclesError(ValueError):
    """Base class of every error this project raises on purpose."""


class InputError(CirclesError):
    """One input (a file, a parameter) has one or more problems.

    All problems of one input are collected and raised together, so a planner fixes a file
    once instead of once per row.

    Parameters
    ----------
    source
        What the problems are about: a file path, or a parameter name.
    problems
        One line per problem, each already naming row, field and value where there is one.
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = str(source)
        self.problems = [str(p) for p in problems]
        if not self.problems:
            raise ValueError("InputError needs at least one problem")
        if len(self.problems) == 1:
            msg = f"{self.source}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems[:SHOWN])
            msg = f"{self.source}: {len(self.problems)} problems:\n{lines}{_rest(self.problems[SHOWN:])}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[InputError], tuple[str, list[str]]]:  # picklable across worker processes
        return (type(self), (self.source, self.problems))


#: an error's message lists this many problems; the rest are counted by kind (``problems`` holds all)
SHOWN = 100
#: what names a row, feature or edit at the start of a problem (counted together past :data:`SHOWN`)
_WHERE = re.compile(r"^(?:row|feature|edit|line|sheet|point|candidate)\b[^:]{0,80}:\s*", re.IGNORECASE)


def _rest(problems: list[str]) -> str:
    """The problems past the first :data:`SHOWN`, counted by kind (the text after its row or feature)."""
    if not problems:
        return ""
    kinds = Counter(_WHERE.sub("", p)[:200] for p in problems)
    top = "".join(f"\n    {n:,} x {kind}" for kind, n in kinds.most_common(5))
    other = len(problems) - sum(n for _, n in kinds.most_common(5))
    return f"\n  ... and {len(problems):,} more, of these kinds:{top}" + (f"\n    {other:,} others" if other else "")


class NetworkError(CirclesError):
    """The walking network cannot be built or used (empty extract, no walkable ways...)."""


class UnknownNameError(CirclesError):
    """A name (layer, tier, service, profile...) that is not one of the allowed values."""

    def __init__(self, what: str, value: object, allowed: Iterable[object]) -> None:
        self.what = what
        self.value = value
        self.allowed = sorted(str(a) for a in allowed)
        super().__init__(f"unknown {what} {value!r}: expected one of {', '.join(self.allowed) or '(none loaded)'}")

    def __reduce__(
        self,
    ) -> tuple[type[UnknownNameError], tuple[str, object, list[str]]]:  # picklable across worker processes
        return (type(self), (self.what, self.value, self.allowed))
