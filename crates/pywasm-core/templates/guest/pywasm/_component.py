"""The typed exports of a library built as a component: each export's WIT signature from its
annotations, and the call path from the core stubs pywasm adds (which hand their flat
arguments over one by one through `_pywasm_canon`) to the Python function and back. Every
export returns `result<T, string>`: `err` carries the exception's text, as `pywasm_error`
does in a core library. See docs/abi.md, "Components"."""
import json
import sys
import traceback

import _pywasm_canon

from . import _annotations, _canon, _exports

_FUNCTIONS = []  # (Function, python function) in export order
_RECORDS = {}
_OWNED = {}  # export index -> buffers its last result owns, freed by its post-return
_WORLD = {}


class _Memory:
    """Linear memory as `_canon` reads and writes it."""

    def __init__(self):
        self.to_free = []

    def read(self, ptr, n):
        return _pywasm_canon.peek(ptr, n)

    def write(self, ptr, data):
        _pywasm_canon.poke(ptr, data)

    def alloc(self, size, align):
        ptr = _pywasm_canon.malloc(size, align)
        if not ptr:
            raise MemoryError(f"no memory for {size} bytes")
        return ptr

    def received(self, ptr, n):
        if n:
            self.to_free.append(ptr)


def register(package, exports, imports):
    """`exports`: (pyproject name, WIT name) in the order `_exports.register` took them;
    `imports`: {WIT interface: [WIT function names]}; `package`: the world's name."""
    _WORLD.update(package=package, imports=imports)
    for index, (name, wit_name) in enumerate(exports):
        function, params, returns = _exports.signature(index)
        try:
            typed = [
                (_annotations.identifier(p, f"parameter `{p}`"), _annotations.type_of(a, f"parameter `{p}`", _RECORDS))
                for p, a, _ in params
            ]
            result = (
                None
                if returns in (None, type(None))
                else _annotations.type_of(returns, "the return value", _RECORDS)
            )
            _annotations.unique([p for p, _, _ in params], "its parameters")
            for record in _RECORDS.values():
                if record.name in imports:
                    raise _canon.WitError(
                        f"the record `{record.cls.__qualname__}` and the host interface "
                        f"`{record.name}` have one name in WIT"
                    )
        except _canon.WitError as e:
            raise _exports.ExportError(f"export `{name}`: {e}") from None
        _FUNCTIONS.append((_canon.Function(wit_name, typed, _canon.Result(result)), function))


def describe():
    """What the build needs to wrap the module, as JSON: the WIT world and each export's
    core parameters."""
    world = _annotations.world(
        _WORLD["package"], [f for f, _ in _FUNCTIONS], _WORLD["imports"], _RECORDS
    )
    exports = [
        {"name": f.name, "index": i, "params": list(f.core_params)}
        for i, (f, _) in enumerate(_FUNCTIONS)
    ]
    return json.dumps({"wit": world, "exports": exports}).encode("utf-8")


def call(index):
    """Runs export `index` on the flat arguments its stub handed over; returns the address of
    its result (a `result<T, string>` in memory), which `post` frees."""
    signature, function = _FUNCTIONS[index]
    mem = _Memory()
    owned = []
    result_type = signature.result
    area = mem.alloc(result_type.size, result_type.align)
    owned.append(area)
    try:
        try:
            flat = iter(_pywasm_canon.args(signature.core_params))
            if signature.params_in_memory:
                ptr = next(flat) & 0xFFFFFFFF
                mem.received(ptr, 1)
                values = signature.tuple.load(mem, ptr)
                args = [values[name] for name, _ in signature.params]
            else:
                args = _canon.every([lambda t=t: t.lift(flat, mem) for _, t in signature.params])
        finally:
            for ptr in mem.to_free:
                _pywasm_canon.free(ptr)
        value = function(*args)
        result_type.store_case(mem, area, 0, value, owned)
    except BaseException as e:  # as in a core library: the host decides
        only = traceback.format_exception_only(type(e), e)
        text = next((line for line in only if not line.startswith(" ")), only[-1]).strip()
        trace = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        for ptr in owned[1:]:
            _pywasm_canon.free(ptr)
        del owned[1:]
        result_type.store_case(mem, area, 1, f"{text}\n\n{trace}", owned)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    _OWNED[index] = owned
    return area


def post(index):
    """Frees what export `index`'s last result owned, once the host has read it."""
    for ptr in _OWNED.pop(index, ()):
        _pywasm_canon.free(ptr)
