"""``best --where``: a filter over a sweep's trials, parsed as a restricted expression:
comparisons (``<  <=  >  >=  ==  !=``, chained as in Python), ``and`` / ``or`` / ``not``,
numbers, strings, ``True`` / ``False`` and column names (config keys and metrics; a name
that is not an identifier goes in backticks: ```best/val_loss` < 0.3``). Nothing else is
evaluated: no calls, attributes, subscripts or operators beyond those (pandas' ``query``
with the python engine runs arbitrary Python)."""

from __future__ import annotations

import ast
import operator
import re
from typing import Any, TypeGuard

import pandas as pd

from ..errors import UserError
from ..schema import CONFIG_PREFIX, is_test

COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def apply(frame: pd.DataFrame, expression: str) -> pd.DataFrame:
    """The rows of ``frame`` where ``expression`` holds."""
    quoted: dict[str, str] = {}

    def name_for(match: re.Match) -> str:
        quoted[f"_q{len(quoted)}_"] = match.group(1)
        return f"_q{len(quoted) - 1}_"

    text = re.sub(r"`([^`]+)`", name_for, expression)
    shown = expression if len(expression) <= 80 else expression[:77] + "..."
    try:
        tree = ast.parse(text.strip(), mode="eval")
        mask = _eval(tree.body, frame, quoted, shown)
    except SyntaxError as e:
        raise UserError(f"--where {shown!r}: SyntaxError: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise UserError(f"--where {shown!r}: nested too deep") from None
    if not isinstance(mask, pd.Series):  # a constant: all rows or none
        mask = pd.Series(bool(mask), index=frame.index)
    return frame[mask.fillna(False).astype(bool)]


def _eval(node: ast.AST, frame: pd.DataFrame, quoted: dict[str, str], expression: str) -> Any:
    def bad(what: str) -> UserError:
        return UserError(
            f"--where {expression!r}: {what}; allowed: comparisons, and, or, not, numbers, strings and column names"
        )

    if isinstance(node, ast.BoolOp):
        parts = [_as_bool(_eval(v, frame, quoted, expression), frame) for v in node.values]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node.op, ast.And) else (out | part)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_as_bool(_eval(node.operand, frame, quoted, expression), frame)
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and _number(node.operand.value)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, ast.Compare):
        left = _eval(node.left, frame, quoted, expression)
        out = None
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in COMPARE:
                raise bad(f"operator {type(op).__name__}")
            right = _eval(right_node, frame, quoted, expression)
            try:
                part = COMPARE[type(op)](left, right)
            except TypeError as e:
                raise UserError(f"--where {expression!r}: cannot compare ({e})") from None
            part = _as_bool(part, frame)
            out = part if out is None else out & part
            left = right
        return out
    if isinstance(node, ast.Name):
        column = quoted.get(node.id, node.id)
        if is_test(column):
            raise UserError(f"--where {expression!r}: {column}: the test split is held out and never chooses")
        if column in frame.columns:
            return frame[column]
        if node.id in ("True", "False"):
            return node.id == "True"
        known = ", ".join(sorted(str(c) for c in frame.columns if not str(c).startswith((CONFIG_PREFIX, "_"))))
        raise UserError(f"--where {expression!r}: unknown column {column!r}; known: {known}")
    if isinstance(node, ast.Constant) and (_number(node.value) or isinstance(node.value, (str, bool))):
        return node.value
    raise bad(type(node).__name__)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_bool(value: Any, frame: pd.DataFrame) -> pd.Series:
    if isinstance(value, pd.Series):
        if value.dtype == object:
            value = value.map(lambda v: bool(v) if isinstance(v, (bool, int, float)) and v == v else False)
        return value.fillna(False).astype(bool)
    return pd.Series(bool(value), index=frame.index)
