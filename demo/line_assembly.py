"""Cell assembly on the demo line: stack, weld tabs, package. Each adds material, so each makes a
new item: 24 stacks -> tab-welded stacks -> 24 pouch cells."""

from collections.abc import Iterator

from lots.models import Item
from traceability.services import InputSpec, OutputSpec, StretchSpec

from .line_base import Electrode, LineBase, Unwinder
from .line_data import (
    ANODES_PER_STACK,
    CATHODES_PER_STACK,
    CELLS,
    NOMINAL_CAPACITY_AH,
    POUCH_PER_CELL_M,
    SEPARATOR_PER_STACK_M,
    step_parameters,
)


def take(items: Iterator[Item], n: int) -> list[Item]:
    return [next(items) for _ in range(n)]


class AssemblyStages(LineBase):
    def assemble(self, cathode: Electrode, anode: Electrode) -> None:
        need_c, need_a = CELLS * CATHODES_PER_STACK, CELLS * ANODES_PER_STACK
        if len(cathode.good_sheets) < need_c or len(anode.good_sheets) < need_a:
            raise RuntimeError("The recipe cuts too few good sheets for the cells it promises.")
        cathodes, anodes = iter(cathode.good_sheets), iter(anode.good_sheets)
        separator = Unwinder(self.lots["separator"].code)
        pouch = Unwinder(self.lots["pouch_foil"].code)
        for n in range(1, CELLS + 1):
            stack = self.stack(take(cathodes, CATHODES_PER_STACK), take(anodes, ANODES_PER_STACK), separator)
            welded = self.weld(stack)
            self.cells.append(self.package(n, welded, pouch))

    def stack(self, cathodes: list[Item], anodes: list[Item], separator: Unwinder) -> Item:
        sep = separator.take(SEPARATOR_PER_STACK_M)
        sheets = [InputSpec(item=s.code) for s in cathodes + anodes]
        (stack,) = self.op(
            "stacking",
            "STK-01",
            minutes=6,
            inputs=[*sheets, sep.input],
            outputs=[
                OutputSpec(
                    kind="stack",
                    attributes={"cathode_sheets": len(cathodes), "anode_sheets": len(anodes)},
                    made_from=[*(StretchSpec(item=s.code) for s in cathodes + anodes), sep.stretch],
                )
            ],
            parameters=step_parameters("stacking", stack_layer_count=len(cathodes) + len(anodes)),
            pause=1,
        )
        self.stacks.append(stack)
        return stack

    def weld(self, stack: Item) -> Item:
        """Tabs are material joining the cell, so welding makes a new stack with the tabs in its
        lineage (an operation without outputs writes no lineage edges)."""
        al, ni = self.lots["al_tabs"].code, self.lots["ni_tabs"].code
        (welded,) = self.op(
            "tab_welding",
            "WELD-01",
            minutes=2,
            inputs=[
                InputSpec(item=stack.code),
                InputSpec(item=al, quantity=1, unit="count"),
                InputSpec(item=ni, quantity=1, unit="count"),
            ],
            outputs=[OutputSpec(kind="stack", attributes={"tabs_welded": True, "welded_from": stack.code})],
            parameters=step_parameters("tab_welding"),
            pause=1,
        )
        self.welded.append(welded)
        return welded

    def package(self, n: int, welded: Item, pouch: Unwinder) -> Item:
        foil = pouch.take(POUCH_PER_CELL_M)
        (cell,) = self.op(
            "packaging",
            "PKG-01",
            minutes=3,
            inputs=[InputSpec(item=welded.code), foil.input],
            outputs=[
                OutputSpec(
                    kind="cell",
                    attributes={
                        "format": "pouch",
                        "chemistry": "NMC811/graphite",
                        "nominal_capacity_Ah": NOMINAL_CAPACITY_AH,
                        "serial_in_batch": n,
                    },
                    made_from=[StretchSpec(item=welded.code), foil.stretch],
                )
            ],
            parameters=step_parameters("packaging"),
            pause=1,
        )
        return cell
