"""``CompileError``: a DAG project that does not compile, as lines a person can act on."""

from __future__ import annotations

from collections.abc import Sequence


class CompileError(Exception):
    """The project does not compile; ``problems`` holds one line per problem (where, what, fix).

    ``kind`` says which stage refused it: ``config`` (no or bad leoflow.yaml), ``dag`` (the DAG
    file: an unsupported construct, an invalid call), ``crash`` (the file raised), ``timeout``,
    ``select`` (no DAG with the configured id), ``spec`` (the result fails dag.json
    validation) or ``environment`` (the DAG's virtualenv could not be built). ``detail``
    carries a traceback or output excerpt when there is one.
    """

    def __init__(self, kind: str, problems: Sequence[str], detail: str | None = None) -> None:
        self.kind = kind
        self.problems = list(problems)
        self.detail = detail
        message = (
            self.problems[0]
            if len(self.problems) == 1
            else "\n".join(f"- {problem}" for problem in self.problems)
        )
        super().__init__(message)

    def to_json(self) -> dict[str, object]:
        """The error as JSON for ``--json`` output."""
        return {"kind": self.kind, "problems": self.problems, "detail": self.detail}
