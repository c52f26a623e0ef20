"""A Numba pipeline whose ``inline="always"`` calls pass records without copying them.

Numba inlines a call by binding each parameter to the caller's variable, and
every such binding of a record counts one reference per array in it, at each
pass through the inlined code. The integrators' helpers take the term and the
integrator's memory (tens of arrays) and run at every step, so those counts
are a measurable share of a step. :class:`ForwardingCompiler` adds one pass
after SSA reconstruction that replaces such copies by the variables they copy
(:func:`forward_copies`).
"""

from __future__ import annotations

from typing import Any

from numba.core import ir
from numba.core.analysis import compute_cfg_from_blocks
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.ir_utils import build_definitions, replace_vars
from numba.core.untyped_passes import ReconstructSSA

__all__ = ["ForwardingCompiler", "forward_copies"]


def forward_copies(blocks: dict[int, ir.Block]) -> int:
    """Remove each copy ``a = b`` of a variable that never changes; return how many.

    A variable never changes when it is defined once, in a block outside every
    loop (the arguments, and what is set up before the loops), or when it is a
    copy, defined once, of one that never changes. Every use of such a copy
    then sees b's value, so b can stand in for it.
    """
    defs = build_definitions(blocks)
    loops = compute_cfg_from_blocks(blocks).loops().values()
    in_loop = {label for loop in loops for label in loop.body}
    fixed: set[str] = set()
    copies: list[tuple[str, ir.Var]] = []
    for label, block in blocks.items():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign) and len(defs[stmt.target.name]) == 1:
                if label not in in_loop:
                    fixed.add(stmt.target.name)
                if isinstance(stmt.value, ir.Var):
                    copies.append((stmt.target.name, stmt.value))
    alias: dict[str, ir.Var] = {}
    changed = True
    while changed:  # a copy of a copy: resolved once its source is
        changed = False
        for name, var in copies:
            if name not in alias and (var.name in fixed or var.name in alias):
                alias[name] = alias.get(var.name, var)
                changed = True
    if not alias:
        return 0
    for block in blocks.values():
        block.body = [
            stmt
            for stmt in block.body
            if not (isinstance(stmt, ir.Assign) and stmt.target.name in alias)
        ]
    replace_vars(blocks, alias)
    return len(alias)


@register_pass(mutates_CFG=False, analysis_only=False)
class ForwardCopies(FunctionPass):
    """The pass of :class:`ForwardingCompiler`; it records its count as ``forwarded_copies``."""

    _name = "dlnsam_forward_copies"

    def __init__(self) -> None:
        FunctionPass.__init__(self)

    def run_pass(self, state: Any) -> bool:
        count = forward_copies(state.func_ir.blocks)
        state.metadata["forwarded_copies"] = count
        if count:
            state.func_ir._definitions = build_definitions(state.func_ir.blocks)
        return count > 0


class ForwardingCompiler(CompilerBase):
    """Numba's nopython pipeline with :class:`ForwardCopies` after SSA reconstruction."""

    def define_pipelines(self) -> list[Any]:
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.add_pass_after(ForwardCopies, ReconstructSSA)
        pm.finalize()
        return [pm]
