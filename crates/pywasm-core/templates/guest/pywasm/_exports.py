"""The exported functions of a library module: registered at start-up (inside the snapshot), then
called by index from the module's C exports with the argument bytes. See docs/abi.md."""
import importlib
import inspect
import sys
import traceback
import typing

from . import _codec

_CALLS = []
_SIGNATURES = []  # (function, [(name, annotation, optional)], return annotation) per export


class ExportError(Exception):
    """An export pyproject.toml names that cannot be called through the ABI."""


def register(specs, typed=False):
    """`specs`: (wasm name, "module:function") in export order. `typed`: a component build,
    whose exports `_component` types, so the JSON encoding's limits do not apply."""
    for name, spec in specs:
        try:
            _CALLS.append(_prepare(spec, typed))
        except ExportError as e:
            raise ExportError(f"export `{name}` (`{spec}`): {e}") from None


def signature(index):
    """Export `index`'s function, its parameters as (name, annotation, optional) and its return
    annotation."""
    return _SIGNATURES[index]


def _prepare(spec, typed):
    module_name, attr = spec.split(":")
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise ExportError(f"no module `{e.name}`") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ExportError(f"`{module_name}` has no `{attr}`") from None
    if not callable(target):
        raise ExportError(f"`{attr}` is a {type(target).__name__}, not a function")
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    params = []
    if signature is not None:
        for p in signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.kind == p.KEYWORD_ONLY:
                if p.default is p.empty:
                    raise ExportError(f"keyword-only parameter `{p.name}` has no default")
                continue
            params.append((p.name, hints.get(p.name, typing.Any), p.default is not p.empty))
    returns = hints.get("return", typing.Any)
    _SIGNATURES.append((target, params, returns))
    if typed:
        return target, None, None
    try:
        for pname, annotation, _ in params:
            if len(params) > 1 and annotation is bytes:
                raise _codec.AnnotationError(f"parameter `{pname}` is bytes, which only a single parameter can be")
            if annotation not in (bytes, str):
                _codec.check(annotation, f"parameter `{pname}`")
        if returns not in (bytes, str):
            _codec.check(returns, "the return value")
    except _codec.AnnotationError as e:
        raise ExportError(str(e)) from None
    return target, _decoder(params), _codec.kind_of(returns)


def _decoder(params):
    if not params:
        return lambda data: ()
    if len(params) == 1:
        _, annotation, optional = params[0]
        if annotation is bytes:
            return lambda data: (data,)
        if annotation is str:
            return lambda data: (data.decode("utf-8"),)

        def one(data):
            if not data and optional:
                return ()
            return (_codec.convert(_json(data), annotation),)

        return one

    def several(data):
        values = _json(data) if data else []
        if not isinstance(values, list):
            raise TypeError(f"expected a JSON array of {len(params)} arguments")
        required = sum(1 for _, _, optional in params if not optional)
        if not required <= len(values) <= len(params):
            raise TypeError(f"expected {required} to {len(params)} arguments, got {len(values)}")
        return tuple(_codec.convert(v, params[i][1]) for i, v in enumerate(values))

    return several


def _json(data):
    import json

    return json.loads(data)


def call(index, data):
    """(True, result bytes) or (False, error text as UTF-8): the instance stays usable."""
    try:
        function, decode, kind = _CALLS[index]
        out = True, _codec.encode(function(*decode(data)), kind)
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the host decides
        # The headline is `Type: message`; a SyntaxError (lxml's XMLSyntaxError too) puts its
        # indented location lines before it.
        only = traceback.format_exception_only(type(e), e)
        text = next((line for line in only if not line.startswith(" ")), only[-1]).strip()
        trace = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        out = False, f"{text}\n\n{trace}".encode("utf-8", "replace")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return out
