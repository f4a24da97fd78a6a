"""What an event's field may hold: the type check :meth:`massgen.events.Event.from_dict` makes
of a recorded event's values (a damaged log must not hand a view a field of the wrong type)."""

from __future__ import annotations

from typing import Any

SIMPLE: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "None": (type(None),),
}


def fits(value: Any, annotation: str) -> bool:
    """Whether ``value`` has the type an event field's annotation names (``str``,
    ``int | None``, ``list[...]``, ``dict[...]``; anything else is not checked)."""
    for option in annotation.split("|"):
        name = option.strip().split("[", 1)[0]
        if name == "list" and isinstance(value, list):
            return True
        if name == "dict" and isinstance(value, dict):
            return True
        if name in SIMPLE:
            if isinstance(value, bool) and name in ("int", "float"):
                continue
            if isinstance(value, SIMPLE[name]):
                return True
        elif name not in ("list", "dict"):
            return True  # a type this check does not know: accept
    return False
