"""`explain --address A`: the option, and thin doors to emu/page_walk.py imported on use.

Why a module of its own: emu/cli.py builds every subcommand's parser on every start, and
importing page_walk (its walker, emu/paging.py, struct) for the option alone cost a `run` that
never walks a page table ~2-19 ms of start-up (issue 11).  Only `explain --address` pays now.
"""
from __future__ import annotations

from typing import Any


def add_address_option(parser: Any) -> None:
    """`explain --address A` (repeatable)."""
    parser.add_argument("--address", action="append", default=[], metavar="A",
                        help="after the journey, walk the page tables for linear address A (0x.., or a symbol) "
                             "as the run left them (docs/journey.md); repeatable")


def resolve_address(machine: Any, text: str) -> int:
    """emu/page_walk.py's resolve_address, imported on the first call."""
    from .page_walk import resolve_address as resolve
    return resolve(machine, text)


def addresses_text(machine: Any, addresses: list[int]) -> str:
    """emu/page_walk.py's addresses_text; '' without importing it when no address was asked."""
    if not addresses:
        return ""
    from .page_walk import addresses_text as text
    return text(machine, addresses)
