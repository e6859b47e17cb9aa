"""miniwdl's WDL parser, built once per machine rather than once per process.

miniwdl builds a Lark LALR parser the first time a process parses WDL: about 0.4 s of CPU on
this project's 2-core machines, paid twice by every local run (the CLI's validation, then the
orchestrator) and by every submit Lambda's cold start. Lark can keep the built parser in a file
(``cache=True``: in the temp directory, named by a hash of the grammar and options), and load it
in a fraction of that. miniwdl has no setting for it, so its per-process memo is filled here,
with the options miniwdl itself uses (``tests/test_wdl_parser_cache.py`` checks the trees match).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def use_cached_wdl_parser() -> None:
    """Have miniwdl's parser come from lark's on-disk cache, in this process, from now on."""
    import lark
    from WDL import _parser

    memo: dict[tuple[str, str], Any] = _parser._lark_cache
    parse = _parser.parse

    def parse_with_cached_parser(grammar: str, txt: str, start: str) -> Any:
        if (grammar, start) not in memo:
            with _parser._lark_lock:
                if (grammar, start) not in memo:
                    memo[(grammar, start)] = lark.Lark(
                        grammar,
                        start=start,
                        parser="lalr",
                        maybe_placeholders=False,
                        propagate_positions=True,
                        lexer_callbacks={"COMMENT": _parser._lark_comments_buffer.append},
                        cache=True,
                    )
        return parse(grammar, txt, start)

    _parser.parse = parse_with_cached_parser
