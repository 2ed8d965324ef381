"""Turn user input (a form, `--key value` on the command line) into an algorithm's config dataclass."""

from __future__ import annotations

import types
import typing
from dataclasses import asdict, fields, is_dataclass
from typing import Any

from algorithms.contract import config_fields


class ConfigError(ValueError):
    """A config value that does not fit; the message names the field and what it expects."""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"'{text}' is not true or false")


def coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert `value` (often a string) to the field's type; None stays None for optional fields."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        kind = options[0]
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"{name}: expected one of {', '.join(map(str, typing.get_args(kind)))}, got {value!r}")
        return value
    try:
        if kind is bool:
            return value if isinstance(value, bool) else _parse_bool(str(value))
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
        if typing.get_origin(kind) is tuple and isinstance(value, str):
            inner = typing.get_args(kind)[0]
            return tuple(inner(v) for v in value.replace(" ", "").split(",") if v)
    except (TypeError, ValueError) as exc:
        type_name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{name}: expected {type_name}, got {value!r} ({exc})") from exc
    return value


def build_config(config_class: type, values: dict[str, Any]) -> Any:
    """An instance of `config_class` from (possibly string) values; unknown keys are an error."""
    assert is_dataclass(config_class)
    known = {f["name"]: f for f in config_fields(config_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; {config_class.__name__} has: {', '.join(known)}")
    kwargs = {name: coerce(name, known[name]["type"], value) for name, value in values.items()}
    try:
        return config_class(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: v for f, v in zip(fields(config), asdict(config).values(), strict=True)}
