"""The WIT type of each Python annotation of a component's exports (`_canon`'s types), the
WIT names of Python identifiers, and the world of a library. See docs/abi.md, "Components"."""

import dataclasses
import types
import typing

from ._canon import (
    Bool,
    Bytes,
    F64,
    List,
    Option,
    Record,
    S64,
    String,
    WitError,
    _escape,
    _kebab,
)


def type_of(annotation, where, records):
    """The WIT type of `annotation`; `records` collects the record types met, by class."""
    if annotation is bool:
        return Bool()
    if annotation is int:
        return S64()
    if annotation is float:
        return F64()
    if annotation is str:
        return String()
    if annotation in (bytes, bytearray):
        return Bytes()
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return Option(type_of(rest[0], where, records))
        raise WitError(f"{where} is a union, which has no WIT type but `Optional[T]`")
    if origin is list and len(args) == 1:
        return List(type_of(args[0], where, records))
    if dataclasses.is_dataclass(annotation) or _is_typeddict(annotation):
        cls = annotation.__qualname__
        if annotation in records:
            if records[annotation] is None:
                raise WitError(f"`{cls}` in {where} contains itself, which a WIT record cannot")
            return records[annotation]
        records[annotation] = None  # in progress
        hints = typing.get_type_hints(annotation)
        names = (
            [f.name for f in dataclasses.fields(annotation)]
            if dataclasses.is_dataclass(annotation)
            else list(hints)
        )
        if not names:
            raise WitError(f"`{cls}` in {where} has no fields, and a WIT record needs one")
        fields = []
        for n in names:
            identifier(n, f"field `{n}` of `{cls}` in {where}")
            fields.append((n, type_of(hints[n], f"field `{n}` of `{cls}` in {where}", records)))
        unique(names, f"the fields of `{cls}` in {where}")
        name = identifier(annotation.__name__, f"`{cls}` in {where}")
        if any(r is not None and r.name == name for r in records.values()):
            raise WitError(f"`{cls}` in {where}: another record is also named `{name}` in WIT")
        record = Record(annotation, fields, name)
        records[annotation] = record
        return record
    name = annotation.__qualname__ if isinstance(annotation, type) else repr(annotation)
    raise WitError(
        f"{where} is annotated `{name}`, which has no WIT type "
        "(use str, bytes, int, float, bool, Optional, list, a dataclass or a TypedDict)"
    )


def world(name, exports, imports, records):
    """The WIT text of a world: `exports` as Function objects; `imports` {module: [names]},
    each host function `func(argument: list<u8>) -> list<u8>`."""
    lines = [f"package pywasm:{_escape(name)};", "", f"world {_escape(name)} {{"]
    for module in sorted(imports):
        lines.append(f"  import {_escape(module)}: interface {{")
        for n in sorted(imports[module]):
            lines.append(f"    {_escape(n)}: func(argument: list<u8>) -> list<u8>;")
        lines.append("  }")
    for record in records.values():
        lines.extend(f"  {line}" for line in record.definition())
    for function in exports:
        lines.append(f"  export {function.wit()}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def identifier(name, where):
    """The WIT identifier for the Python name `name` (kebab-case), or WitError."""
    kebab = _kebab(name)
    parts = kebab.split("-")
    valid = all(
        p and p.isascii() and p[0].isalpha() and p.isalnum() and (p.islower() or p.isupper() or p.isdigit())
        for p in parts
    )
    if not valid:
        raise WitError(
            f"{where}: `{name}` has no WIT name (`{kebab}` is not one: each part between dashes "
            "must start with a letter and be all lower- or all upper-case letters and digits)"
        )
    return kebab


def unique(names, where):
    """Raises WitError if two of the Python `names` have one WIT name."""
    seen = {}
    for name in names:
        kebab = _kebab(name)
        if kebab in seen:
            raise WitError(f"{where}: `{seen[kebab]}` and `{name}` are both `{kebab}` in WIT")
        seen[kebab] = name


def _is_typeddict(annotation):
    return isinstance(annotation, type) and issubclass(annotation, dict) and hasattr(annotation, "__total__")
