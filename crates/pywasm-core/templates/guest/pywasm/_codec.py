"""The ABI's value encoding (docs/abi.md): bytes as they are, str as UTF-8, None as nothing,
anything else as JSON; parameters decoded by their annotations."""
import dataclasses
import json
import types
import typing

RAW = "raw"
TEXT = "text"
EMPTY = "empty"
JSON = "json"


class AnnotationError(TypeError):
    """An annotation the ABI cannot decode a value into."""


def _default(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(value, kind=None):
    """Bytes for `value`, by `kind` (from an annotation) or else by the value's own type."""
    if kind is None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            kind = RAW
        elif isinstance(value, str):
            kind = TEXT
        elif value is None:
            kind = EMPTY
        else:
            kind = JSON
    if kind == RAW:
        return bytes(value)
    if kind == TEXT:
        if not isinstance(value, str):
            raise TypeError(f"returned {type(value).__name__}, but the annotation says str")
        return value.encode("utf-8")
    if kind == EMPTY:
        return b""
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def kind_of(annotation):
    """How a value annotated `annotation` travels: RAW, TEXT, EMPTY or JSON (None: unannotated)."""
    if annotation is bytes:
        return RAW
    if annotation is str:
        return TEXT
    if annotation is None or annotation is type(None):
        return EMPTY
    return None if annotation is typing.Any else JSON


def check(annotation, where):
    """Raises AnnotationError unless a JSON value can be turned into `annotation`."""
    if annotation in (typing.Any, int, float, bool, str, dict, list, type(None), None):
        return
    if dataclasses.is_dataclass(annotation) or _is_typeddict(annotation):
        return
    origin = typing.get_origin(annotation)
    if origin in (list, dict, typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                check(arg, where)
        return
    name = annotation.__qualname__ if isinstance(annotation, type) else repr(annotation)
    raise AnnotationError(
        f"{where} is annotated `{name}`, which is not bytes, str, a JSON type, a dataclass or a TypedDict"
    )


def convert(value, annotation):
    """A decoded JSON value as `annotation` asks: dataclasses built, ints widened to float."""
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        hints = typing.get_type_hints(annotation)
        return annotation(**{k: convert(v, hints.get(k, typing.Any)) for k, v in value.items()})
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args and isinstance(value, list):
        return [convert(v, args[0]) for v in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: convert(v, args[1]) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType) and value is not None:
        for arg in args:
            if arg is not type(None):
                return convert(value, arg)
    return value


def _is_typeddict(annotation):
    return isinstance(annotation, type) and issubclass(annotation, dict) and hasattr(annotation, "__total__")
