"""Calls a library's exports under native CPython as a typed component host would, so that tests
compare every call of a library built as a component with the same functions run natively.
Deliberately independent of pywasm's own `_canon`: values are converted by the annotations here.

    python component_native.py REQUEST.json

REQUEST: {"path": [dirs for sys.path], "exports": [[name, "module:function"], ...],
"calls": [[export name, [arguments as JSON]], ...]}. Arguments and results use JSON for WIT
values: records as objects keyed by the Python field names, `list<u8>` as a list of ints,
`option` as null or the value. Prints one JSON list with {"ok": result} or {"err": "Type:
message"} per call. The host function `lookup` answers as the test hosts do.
"""
import dataclasses
import importlib
import json
import sys
import traceback
import types
import typing


def to_python(value, annotation):
    if annotation is bytes:
        return bytes(value)
    if annotation is float:
        return float(value)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return None if value is None else to_python(value, inner)
    if origin is list:
        return [to_python(v, args[0]) for v in value]
    if dataclasses.is_dataclass(annotation) or typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        fields = {k: to_python(v, hints[k]) for k, v in value.items()}
        return annotation(**fields) if dataclasses.is_dataclass(annotation) else fields
    return value


def to_json(value):
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    sys.path[0:0] = request["path"]

    def lookup(data):
        return json.dumps({"len": len(data), "text": data.decode("utf-8")},
                          separators=(",", ":"), ensure_ascii=False).encode()

    fake = types.ModuleType("_pywasm")
    fake.HOST_NAMES = ("lookup",)
    fake.call_host = lambda index, data: lookup(data)
    sys.modules["_pywasm"] = fake

    functions = {}
    for name, spec in request["exports"]:
        module, attr = spec.split(":")
        functions[name] = getattr(importlib.import_module(module), attr)

    results = []
    for name, arguments in request["calls"]:
        function = functions[name]
        hints = typing.get_type_hints(function)
        params = [p for p in hints if p != "return"]
        try:
            value = function(*(to_python(a, hints[p]) for a, p in zip(arguments, params)))
            results.append({"ok": to_json(value)})
        except Exception as e:
            only = traceback.format_exception_only(type(e), e)
            headline = next((l for l in only if not l.startswith(" ")), only[-1]).strip()
            results.append({"err": headline})
    sys.stdout.write(json.dumps(results) + "\n")


main()
