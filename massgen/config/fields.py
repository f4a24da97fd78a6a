"""What every config model shares: the strict base model and the error of one key.

See :mod:`massgen.config.schema` for the models themselves.
"""

from __future__ import annotations

import math
import types
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator


class FieldProblem(ValueError):
    """A model validator's problem with one of the model's keys (``loc``, relative to the
    model), so the loader reports that key's line."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {message}")
        self.loc = loc
        self.message = message


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a number (int or float, maybe optional), not a bool."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_numeric(arg) for arg in get_args(annotation))
    return annotation in (int, float)


class Strict(BaseModel):
    """A config model: unknown keys are errors, and numbers must be finite numbers."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``timeout_seconds: true`` is a mistake, not 1 second; ``nan`` and ``inf`` are
        not a limit."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _numeric(field.annotation):
            return value
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        return value


def http_url(value: str | None) -> str | None:
    """``value`` stripped, if it is an http(s) URL with a host; raises ``ValueError``."""
    if value is None:
        return value
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:8000/v1")
    return value.strip()


#: An optional http(s) URL with a host, stripped (see :func:`http_url`).
HttpURL = Annotated[str | None, AfterValidator(http_url)]
