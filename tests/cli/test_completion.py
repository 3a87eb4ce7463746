"""Tab completion from keywords and the server's names (names given directly, no server)."""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from cli.completion import KsqlCompleter, NameCache, Names


class FixedNames(NameCache):
    def __init__(self, names: Names):
        super().__init__(lambda: None)  # type: ignore[arg-type, return-value]
        self._names = names
        self._stale = False


NAMES = Names(sources=["ORDERS", "ORDER_TOTALS", "mixedCase"], columns=["ORDER_ID", "AMOUNT"],
              functions=["ORDER_FN", "UCASE"], queries=["CTAS_ORDER_TOTALS_3"], topics=["orders"])


def complete(text: str) -> list[str]:
    completer = KsqlCompleter(FixedNames(NAMES))
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_names_by_context():
    assert complete("SELECT * FROM ORD") == ["ORDERS", "ORDER_TOTALS"]
    assert complete("select * from ord") == ["orders", "order_totals"]
    assert complete("DESCRIBE mix") == ["`mixedCase`"]
    assert complete("TERMINATE ") == ["CTAS_ORDER_TOTALS_3"]
    assert complete("PRINT '") == ["orders"] and complete("PRINT 'x") == []
    assert complete("DESCRIBE FUNCTION UC") == ["UCASE"]


def test_keywords_columns_and_functions_elsewhere():
    assert complete("SELECT ORDER") == ["ORDER_ID", "ORDERS", "ORDER_TOTALS", "ORDER_FN"]
    assert complete("sel") == ["select"]
    assert complete("SELECT * FROM orders EMIT CH") == ["CHANGES"]
    assert complete("EX") == ["EXISTS", "EXPLAIN", "EXTENDED", "exit"]
    assert complete("SELECT ") == []  # nothing typed, no context: no menu of everything
