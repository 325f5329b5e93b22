"""Exceptions raised by the planning engine.

Every exception here subclasses :class:`ValueError`, carries a message a planner can act on
(file, row, field, value, what was expected, how to fix it) and never needs a traceback to be
understood. The CLI prints ``str(err)`` and exits non-zero; the API maps them to 4xx answers in
``api/errors.py``.
"""

from __future__ import annotations

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
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"{self.source}: {len(self.problems)} problems:\n{lines}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type[InputError], tuple[str, list[str]]]:  # picklable across worker processes
        return (type(self), (self.source, self.problems))


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
