"""Typed configs: dataclasses filled from YAML and CLI flags, validated with one-line errors.

A field's `metadata={"help": ...}` becomes its --help text; `Literal[...]` fields list their
allowed values. Unknown keys and wrong types raise UsageError naming the key. A nested config
dataclass becomes dotted flags (`--agent.planner.horizon`). Presets are named blocks in
nsca/presets.yaml, one section per config class that declares `PRESETS = "<section>"`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from nsca.errors import ConfigError, UsageError

T = TypeVar("T")


def field(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with a help string (lists get a default_factory). `flags=("--a", "--b")`
    replaces the flag made from the field's name (the first is the one --help shows first)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return dataclasses.field(default=default, metadata={"help": help, **kw})


def _coerce(name: str, value: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise UsageError(f"{name}={value!r} is not allowed; choose from {', '.join(map(str, allowed))}")
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or (type(None) in get_args(tp) and isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        errors = []
        for a in args:
            try:
                return _coerce(name, value, a)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError(errors[0])
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{name} must be a list, got {value!r}")
        (inner, *_) = get_args(tp) or (Any,)
        items = [_coerce(f"{name}[{i}]", v, inner) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise UsageError(f"{name} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise UsageError(f"{name} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"{name} must be an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise UsageError(f"{name} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a number, got {value!r}") from None
    if tp is str:
        return str(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UsageError(f"{name} must be a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{name}.")
    return value


PRESETS_FILE = Path(__file__).with_name("presets.yaml")


@functools.lru_cache(maxsize=1)
def _preset_sections() -> dict:
    return load_yaml(PRESETS_FILE)


def presets(section: str) -> dict[str, dict]:
    """The named blocks of one section of nsca/presets.yaml (name -> config keys)."""
    return {name: dict(block or {}) for name, block in _preset_sections().get(section, {}).items()}


def preset_block(section: str, name: str) -> dict:
    blocks = presets(section)
    if name not in blocks:
        raise UsageError(f"unknown {section} preset '{name}'; choose from {', '.join(blocks)}")
    return copy.deepcopy(blocks[name])


def _with_preset(cls: type, data: dict) -> dict:
    """A config class with `PRESETS = "<section>"` and a `preset` field: its named block goes
    under the keys given (defaults < preset < the rest)."""
    section = getattr(cls, "PRESETS", None)
    if not section:
        return data
    default = next(f.default for f in dataclasses.fields(cls) if f.name == "preset")  # type: ignore[arg-type]
    return _merge(preset_block(section, str(data.get("preset", default))), data)


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build a config dataclass from a plain dict; unknown keys and bad values are UsageErrors.
    For a config with presets, the block its `preset` key names fills the keys not given."""
    data = _with_preset(cls, data)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(
            f"unknown config key '{prefix}{unknown[0]}'; allowed keys: {', '.join(sorted(known))}"
        )
    kwargs = {k: _coerce(prefix + k, v, hints[k]) for k, v in data.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            raise exc.within(prefix.rstrip(".")) if prefix else exc from None
    return obj


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold a mapping of keys to values")
    return data


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), prefix: str = "",
                            _root: argparse.ArgumentParser | None = None) -> None:
    """Expose every field of `cls` as --kebab-case flag; defaults stay None so YAML can fill them.

    A field that is itself a config dataclass becomes a group of dotted flags
    (`--ppo.num-envs`), collected back into a nested mapping by `resolve`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            root = _root or parser  # argparse groups do not nest: each config block is a top-level group
            group = root.add_argument_group(f"{prefix}{f.name} (--{prefix}{f.name}.<key>)")
            add_dataclass_arguments(group, tp, skip=f.metadata.get("skip", ()), prefix=f"{prefix}{f.name}.", _root=root)
            continue
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        flags = ["--" + prefix + x.lstrip("-") for x in f.metadata.get("flags", ())] or ["--" + prefix + f.name.replace("_", "-")]
        kw: dict[str, Any] = {"dest": prefix + f.name, "default": None, "help": f"{help_text} (default: {default})"}
        if "flags" in f.metadata:
            kw["metavar"] = flags[0].rsplit(".", 1)[-1].lstrip("-").replace("-", "_").upper()
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
            origin = get_origin(tp)
        if origin is Literal:
            kw["choices"] = list(get_args(tp))
        elif origin in (list, tuple):
            kw["nargs"] = "+"
        elif tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        parser.add_argument(*flags, **kw)


def _flag_values(cls: type, args: argparse.Namespace, prefix: str = "") -> dict:
    """The flags given for `cls` (and its nested configs, as nested dicts)."""
    hints = typing.get_type_hints(cls)
    out: dict = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if dataclasses.is_dataclass(hints[f.name]):
            sub = _flag_values(hints[f.name], args, f"{prefix}{f.name}.")
            if sub:
                out[f.name] = sub
            continue
        value = getattr(args, prefix + f.name, None)
        if value is not None:
            out[f.name] = value
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(cls: type[T], args: argparse.Namespace, config_path: str | Path | None = None, base: dict | None = None) -> T:
    """Defaults < preset block < base < YAML file < CLI flags; the result is validated. The
    preset is the one named by the flags, else the YAML, else the base (`--preset`, `preset:`)."""
    data: dict = dict(base or {})
    if config_path:
        data = _merge(data, load_yaml(config_path))
    try:
        return from_dict(cls, _merge(data, _flag_values(cls, args)))
    except ConfigError as exc:  # the library names the field; the user typed a flag
        raise UsageError(f"{flag_name(cls, exc.field)} {exc.problem}") from None


def flag_name(cls: type, path: str) -> str:
    """The command-line flag of a config field given by its dotted path (`agent.planner.horizon`
    -> `--agent.planner.horizon`, `n_seeds` -> `--n-seeds`); a path that names no field is
    returned as it is."""
    parts = path.split(".")
    prefix, tp = "", cls
    for i, name in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(tp)} if dataclasses.is_dataclass(tp) else {}
        if name not in fields:
            return path
        f = fields[name]
        sub = typing.get_type_hints(tp)[name]
        if i < len(parts) - 1:
            prefix, tp = f"{prefix}{name}.", sub
            continue
        own = "--" + name.replace("_", "-")
        flags = [x if x.startswith("--") else "--" + x for x in f.metadata.get("flags", ())]
        return "--" + prefix + (own if not flags or own in flags else flags[0]).lstrip("-")
    return path
