"""No function in src/ is longer than MAX_LINES, from its `def` line to its last line (nested
functions count in the one that holds them), so each can be read at once. Compiled numba
kernels are exempt: splitting a loop nest across calls there costs speed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "korea_qa"
MAX_LINES = 40


def is_numba_kernel(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with numba.njit or numba.jit, called or not, however imported."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in ("numba.njit", "numba.jit", "njit", "jit"):
            return True
    return False


def too_long(tree: ast.Module, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(name at line, lines) of every function past `limit` lines."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                and not is_numba_kernel(node):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                found.append((f"{node.name}:{node.lineno}", lines))
    return found


def test_no_function_in_src_is_longer_than_the_limit() -> None:
    offenders = [(str(path.relative_to(SRC)), *row) for path in sorted(SRC.rglob("*.py"))
                 for row in too_long(ast.parse(path.read_text(encoding="utf-8")))]
    assert offenders == [], f"functions over {MAX_LINES} lines: {offenders}"


def test_the_check_counts_lines_and_exempts_numba_kernels_only() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(40))  # 41 lines with the def
    source = (f"def long():\n{body}\n"
              f"@numba.njit(cache=True)\ndef kernel():\n{body}\n"
              f"@njit\ndef bare_kernel():\n{body}\n"
              f"@functools.cache\ndef cached():\n{body}\n"
              f"def short():\n{body.splitlines(keepends=True)[0] * 39}")
    assert too_long(ast.parse(source)) == [("long:1", 41), ("cached:130", 41)]
