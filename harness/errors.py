"""Typed exceptions. Every user-facing error says where (file, line) and what to do."""

from __future__ import annotations

from pathlib import Path


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception a library raised (its message can be pages long),
    or its type's name when it has none: what a one-line error quotes."""
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


class HarnessError(Exception):
    """Base of every error caused by user input; the CLI maps it to exit code 2."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint
        super().__init__(self.__str__())

    def locate(self, path: str | Path, line: int | None) -> HarnessError:
        """Point an error that knows no place at the spec entry that caused it (returns self)."""
        if self.path is None:
            self.path, self.line = str(path), line
        return self

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(HarnessError):
    """The experiment spec is malformed or names something that does not exist."""

    @classmethod
    def from_error(cls, exc: HarnessError, path: str | Path, line: int | None) -> SpecError:
        """`exc`, raised by a part that knows no spec (a measure parser, a registry), as the
        spec's error at path:line (or at the place `exc` names, if it names one)."""
        if exc.path is not None:
            path, line = exc.path, exc.line
        return cls(exc.message, path=path, line=line, hint=exc.hint)


class DataError(HarnessError):
    """A dataset, topics, qrels or run file is missing or malformed."""


class ModelError(HarnessError):
    """A model reference cannot be resolved or loaded."""


class SystemConfigError(HarnessError):
    """A retrieval system is misconfigured or cannot run with the given input."""


class EvalError(HarnessError):
    """A measure name is unknown or evaluation input is inconsistent."""


class GateError(HarnessError):
    """A gate snapshot file or gate rule is malformed."""


class CacheError(HarnessError):
    """The artefact cache is unusable (permissions, corrupted beyond repair)."""


class OutputError(HarnessError):
    """A file or folder harness writes cannot be written: read-only, no permission, disk full,
    or a file where a folder is expected (or the reverse)."""
