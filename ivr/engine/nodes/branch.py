"""``branch``: the first case whose test holds on a call variable, or the default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import override

from ..defaults import Defaults
from ..template import lookup
from .base import Checks, Edge, Label, NodeBase, hint

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["BranchNode", "Condition"]


class Condition(BaseModel):
    """A case: a variable, one test on it (equals, not_equals, one_of, exists), and where it leads."""

    model_config = ConfigDict(extra="forbid")

    var: str
    equals: Any = None
    not_equals: Any = None
    one_of: list[Any] | None = None
    exists: bool | None = None
    next: str

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [k for k in ("equals", "not_equals", "one_of", "exists") if getattr(self, k) is not None]
        if len(tests) != 1:
            raise ValueError("a branch case needs exactly one of equals, not_equals, one_of, exists")
        return self

    def holds(self, variables: dict[str, Any]) -> bool:
        """Whether the test holds (a value and its text compare alike: 42 equals "42")."""
        value = lookup(variables, self.var)
        if self.exists is not None:
            return (value not in (None, "")) == self.exists
        if self.one_of is not None:
            return value in self.one_of or str(value) in [str(v) for v in self.one_of]
        if self.not_equals is not None:
            return value != self.not_equals and str(value) != str(self.not_equals)
        return value == self.equals or (value is not None and str(value) == str(self.equals))


def _check_values(checks: Checks, i: int, case: Condition, name: str, known: frozenset[str]) -> None:
    """A case compares a field with values it can take (a status the service never returns never matches)."""
    tested = case.one_of if case.one_of is not None else [v for v in (case.equals, case.not_equals) if v is not None]
    test = "one_of" if case.one_of is not None else ("equals" if case.equals is not None else "not_equals")
    for value in tested:
        if str(value) not in known:
            checks.problem(("cases", i, test), f"{value!r} is never a {name}{hint(value, known)} "
                                               f"({', '.join(sorted(known))}): this test could never hold")


class BranchNode(NodeBase):
    """Go to the first case whose condition holds on the call's variables."""

    kind: Literal["branch"]
    cases: list[Condition] = Field(min_length=1)
    default: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(c.var, c.next, ("cases", i, "next")) for i, c in enumerate(self.cases)] \
            + [Edge(Label.OTHERWISE, self.default, ("default",))]

    @override
    def check(self, checks: Checks) -> None:
        for i, case in enumerate(self.cases):
            root, _, rest = case.var.partition(".")
            record = checks.context.records.get(root)
            if root not in checks.known_vars:
                checks.unset(("cases", i, "var"), f"the branch tests variable {root!r}, which no node sets"
                                                    f"{hint(root, checks.known_vars)}: this case would never be taken")
            elif rest and record is not None and (why := record.field_problem(root, rest)):
                checks.problem(("cases", i, "var"), f"the branch {why}: this case would never be taken")
            elif rest and record is not None and rest in record.values:
                _check_values(checks, i, case, rest, record.values[rest])

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        return next((case.next for case in self.cases if case.holds(call.variables)), self.default)
