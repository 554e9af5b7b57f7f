"""Domain errors. The API maps them to status codes, pages to messages next to the field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: the field it concerns and what would be right."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ExtractsError(Exception):
    """Base of every error the product raises on purpose."""


class NotFound(ExtractsError):
    """An id that names nothing."""


class Conflict(ExtractsError):
    """The request is well formed but clashes with the current state."""


class Invalid(ExtractsError):
    """Bad input; carries every problem found at once, each naming its field."""

    def __init__(self, message: str | list[Problem] | Problem, field: str = "") -> None:
        if isinstance(message, Problem):
            problems = [message]
        elif isinstance(message, list):
            problems = message
        else:
            problems = [Problem(field, message)]
        self.problems: list[Problem] = problems
        super().__init__("; ".join(str(p) for p in problems))

    def for_field(self, prefix: str) -> list[str]:
        """Messages of the problems whose field is `prefix` or lies under it."""
        return [
            p.message for p in self.problems
            if p.field == prefix or p.field.startswith((prefix + ".", prefix + "["))
        ]


class Cancelled(ExtractsError):
    """A run was cancelled before it finished; its window was left as it was."""


class SchemaChanged(ExtractsError):
    """A field a run selects is missing at the source, or its type changed there."""


class ClaimLost(ExtractsError):
    """A worker's claim of a run was taken (released or recovered); its load was rolled back."""


class WorkerStopping(ExtractsError):
    """The worker is shutting down: a run stops before its next chunk, its load rolled back."""


class Unauthorized(ExtractsError):
    """Credentials missing, unknown, revoked or expired."""


class Forbidden(ExtractsError):
    """The one acting is known but their role does not allow the change."""
