"""The API's JSON parser: DRF's, refusing with a 400 what would otherwise end in a 500.

- Nesting deeper than MAX_DEPTH. Python's json module recurses once per level, and a body of
  100,000 brackets (200 KB, well under the upload limit) raised RecursionError, which DRF does not
  catch. No request of this API nests more than a few levels.
- U+0000 and unpaired surrogates (U+D800–U+DFFF) in any string or key. PostgreSQL stores neither, in
  text or jsonb, and the free-form fields (contact attributes, audience filters) reached the database
  with them: a DataError or UnicodeEncodeError, so a 500. DRF's CharField refuses both itself; this
  covers every other field, and the message names where the character is.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.") from None
        _check_storable(data)
        return data


def _check_storable(data: Any) -> None:
    """Raise ParseError for nesting deeper than MAX_DEPTH or a string PostgreSQL cannot store.
    Iterative, so the check itself cannot run out of stack."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, str):
            _check_text(value, path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key in {path or 'the body'}")
                pending.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))


def _check_text(text: str, where: str) -> None:
    found = UNSTORABLE.search(text)
    if found:
        raise ParseError(
            f"{where}: contains U+{ord(found.group()):04X}, which cannot be stored "
            "(no NUL characters or unpaired surrogates)."
        )
