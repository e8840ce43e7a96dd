"""Config files and config mappings checked the same way everywhere, with errors naming file and key.

``read_yaml_mapping`` reads a YAML file that must hold a mapping (UTF-8 text, no binary, no
duplicate keys); ``dataclass_from_mapping`` builds a frozen config dataclass from a mapping,
refusing unknown keys (nested sections too) and values of the wrong kind before the dataclass's own
validation runs; ``number_vector`` reads a list of numbers (a string such as ``"123"`` is not one).
Standard library and PyYAML only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .validation import is_number

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping that cannot be used; ``str()`` names the file and the key."""


def _where(file: str | os.PathLike[str] | None, key: str | None) -> str:
    return ": ".join(str(part) for part in (file, key) if part)


def read_yaml_mapping(path: str | os.PathLike[str], *, what: str = "config file") -> dict[str, Any]:
    """The mapping a YAML file holds ({} for an empty file); ConfigError for anything else."""
    import yaml

    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a file") from None
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if b"\x00" in raw:
        raise ConfigError(f"{path}: a binary file, not a YAML {what} (it holds NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); save the {what} as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {_describe(data)}")
    return dict(data)


def _unique_key_mapping(loader: Any, node: Any, deep: bool = False) -> dict:
    import yaml

    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


@functools.lru_cache(maxsize=1)
def _unique_key_loader() -> type:
    """A SafeLoader that refuses a key given twice (plain YAML keeps the last one silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_key_mapping)
    return UniqueKeyLoader


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def number_vector(value: Any, length: int, name: str) -> tuple[float, ...]:
    """``length`` finite numbers from a list or tuple (or array); ValueError naming ``name`` otherwise.

    A string is refused even when it looks like digits: ``"123"`` is not (1, 2, 3)."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise ValueError(f"{name} must be a list of {length} numbers, got {_describe(value)}")
    items = list(value.tolist() if hasattr(value, "tolist") else value)
    if len(items) != length:
        raise ValueError(f"{name} must be a list of {length} values (numbers), got {len(items)}")
    for index, item in enumerate(items):
        if not is_number(item) or not math.isfinite(float(item)):
            raise ValueError(f"{name}[{index}] must be a finite number, got {_describe(item)}")
    return tuple(float(item) for item in items)


def _check_kind(default: Any, value: Any, key: str) -> Any:
    """``value`` checked against the kind of the field's default (bool, int, float, str, tuple)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {_describe(value)}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{key} must be an integer, got {_describe(value)}")
    elif isinstance(default, float):
        if not is_number(value):
            raise ConfigError(f"{key} must be a number, got {_describe(value)}")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {_describe(value)}")
    elif isinstance(default, tuple) and all(is_number(v) for v in default):
        return number_vector(value, len(default), key)
    return value


def dataclass_from_mapping(cls: type[T], data: Any, section: str, *, file: str | os.PathLike[str] | None = None) -> T:
    """``cls(**data)`` after checking ``data``: a mapping (None counts as empty), no unknown keys,
    each value of the kind of its field's default; fields whose default is itself a dataclass are
    nested sections read the same way. Every error is a ConfigError naming ``file`` and the key
    (``section.key``, ``planner.ik.key``)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where(file, section)} must be a mapping of keys to values, got {_describe(data)}")
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ConfigError(_where(file, f"unknown {section} config keys {unknown}; known keys: {sorted(known)}"))
    defaults = cls()
    values: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{section}.{name}"
        default = getattr(defaults, name)
        annotation = str(known[name].type)
        if dataclasses.is_dataclass(default) and annotation == type(default).__name__:  # a nested section
            values[name] = dataclass_from_mapping(type(default), value, key, file=file)
            continue
        if value is None and "None" in annotation:
            values[name] = None
            continue
        try:
            values[name] = _check_kind(default, value, key)
        except ValueError as error:
            raise ConfigError(_where(file, str(error))) from None
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{_where(file, section)}: {error}") from None
