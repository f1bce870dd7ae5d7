"""Tag-sets as users write them: ``"serve"``, ``"serve,gpu"``, an iterable of tags, ``""``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

from ..errors import InvalidTypeError

__all__ = ["Tags", "tag_set"]

Tags = Union[str, Iterable[str], None]


def tag_set(tags: Tags) -> frozenset[str] | None:
    """The tag-set ``tags`` names: comma-separated in a str (blanks dropped; ``""`` is the empty
    tag-set), or an iterable of str; None stays None (the caller's default).

    Raises:
        InvalidTypeError: an item of the iterable is not a str.
    """
    if tags is None:
        return None
    if isinstance(tags, str):
        return frozenset(t.strip() for t in tags.split(",") if t.strip())
    out = []
    for t in tags:
        if not isinstance(t, str):
            raise InvalidTypeError(f"tags must be strings, got {type(t).__name__}: {t!r}")
        out.append(t)
    return frozenset(out)
