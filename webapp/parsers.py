"""The API's request parsers: DRF's, with a 400 where theirs let bad input through as a 500.

Its own module, imported by ``DEFAULT_PARSER_CLASSES`` while DRF's views load, so it imports nothing
that imports them.
"""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a 400 for a document nested past Python's recursion limit
    (``[[[[…]]]]``): ``json.loads`` raises ``RecursionError`` for it, which DRF lets through as a 500."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from None
