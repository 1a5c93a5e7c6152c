"""JSON from outside (a request body, a button payload typed by hand), parsed safely.

The standard library's parser recurses once per nesting level, so a body of a thousand `[`
raises RecursionError, which no `except ValueError` catches; and it accepts lone surrogates
(`"\\ud800"`) that no database or encoder will take later. orjson parses without recursion and
refuses lone surrogates and invalid UTF-8; the depth of what it returns is then measured without
recursion too, so that nothing downstream (a saved conversation, a log line) meets a deep value.
"""

from __future__ import annotations

from typing import Any

import orjson

from kernel.errors import InputError

# Deeper than any body or payload of ours (Rasa's metadata included) will ever be.
MAX_DEPTH = 32


class InvalidJSON(InputError):
    """Text that is not JSON we accept; the message says why, in one line."""


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in `data`; `InvalidJSON` for anything malformed or nested too deep."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"not valid JSON: {exc}") from None
    _check_depth(value, max_depth)
    return value


def _check_depth(value: Any, max_depth: int) -> None:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InvalidJSON(f"nested deeper than {max_depth} levels")
        pending.extend((child, depth + 1) for child in children)
