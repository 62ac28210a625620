"""Typed exports for components: the WIT types, and values lifted from and lowered into linear
memory by the component model's canonical ABI (UTF-8 strings, 32-bit memory). `_annotations`
maps Python annotations to these types. See docs/abi.md, "Components"."""
import dataclasses
import math
import struct

MAX_FLAT_PARAMS = 16


class WitError(TypeError):
    """An annotation with no WIT type."""


class Type:
    """A canonical-ABI type: its WIT spelling, its layout in memory and its flat core types."""

    size = align = 0
    flat = ()

    def wit(self):
        raise NotImplementedError


class Bool(Type):
    size = align = 1
    flat = ("i32",)

    def wit(self):
        return "bool"

    def load(self, mem, ptr):
        return mem.read(ptr, 1)[0] != 0

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, b"\x01" if value else b"\x00")

    def lift(self, flat, mem):
        return next(flat) != 0

    def lower(self, value, mem, owned):
        return [1 if value else 0]


class S64(Type):
    size = align = 8
    flat = ("i64",)

    def wit(self):
        return "s64"

    def load(self, mem, ptr):
        return struct.unpack("<q", mem.read(ptr, 8))[0]

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, struct.pack("<q", _s64(value)))

    def lift(self, flat, mem):
        return _signed(next(flat), 64)

    def lower(self, value, mem, owned):
        return [_s64(value)]


class F64(Type):
    size = align = 8
    flat = ("f64",)

    def wit(self):
        return "f64"

    def load(self, mem, ptr):
        return struct.unpack("<d", mem.read(ptr, 8))[0]

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, struct.pack("<d", _f64(value)))

    def lift(self, flat, mem):
        return float(next(flat))

    def lower(self, value, mem, owned):
        return [_f64(value)]


class String(Type):
    size, align = 8, 4
    flat = ("i32", "i32")

    def wit(self):
        return "string"

    def load(self, mem, ptr):
        start, length = struct.unpack("<II", mem.read(ptr, 8))
        return self._text(mem, start, length)

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, struct.pack("<II", *self._put(value, mem, owned)))

    def lift(self, flat, mem):
        start, length = next(flat), next(flat)
        return self._text(mem, start & 0xFFFFFFFF, length & 0xFFFFFFFF)

    def lower(self, value, mem, owned):
        return list(self._put(value, mem, owned))

    @staticmethod
    def _text(mem, start, length):
        mem.received(start, length)
        data = mem.read(start, length) if length else b""
        return data.decode("utf-8")

    @staticmethod
    def _put(value, mem, owned):
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return _put_bytes(value.encode("utf-8"), 1, mem, owned)


class Bytes(Type):
    """list<u8>, as Python bytes."""

    size, align = 8, 4
    flat = ("i32", "i32")

    def wit(self):
        return "list<u8>"

    def load(self, mem, ptr):
        start, length = struct.unpack("<II", mem.read(ptr, 8))
        return self._bytes(mem, start, length)

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, struct.pack("<II", *_put_bytes(_as_bytes(value), 1, mem, owned)))

    def lift(self, flat, mem):
        start, length = next(flat), next(flat)
        return self._bytes(mem, start & 0xFFFFFFFF, length & 0xFFFFFFFF)

    def lower(self, value, mem, owned):
        return list(_put_bytes(_as_bytes(value), 1, mem, owned))

    @staticmethod
    def _bytes(mem, start, length):
        mem.received(start, length)
        return mem.read(start, length) if length else b""


class List(Type):
    size, align = 8, 4
    flat = ("i32", "i32")

    def __init__(self, element):
        self.element = element

    def wit(self):
        return f"list<{self.element.wit()}>"

    def load(self, mem, ptr):
        start, length = struct.unpack("<II", mem.read(ptr, 8))
        return self._items(mem, start, length)

    def store(self, mem, ptr, value, owned):
        mem.write(ptr, struct.pack("<II", *self._put(value, mem, owned)))

    def lift(self, flat, mem):
        start, length = next(flat), next(flat)
        return self._items(mem, start & 0xFFFFFFFF, length & 0xFFFFFFFF)

    def lower(self, value, mem, owned):
        return list(self._put(value, mem, owned))

    def _items(self, mem, start, length):
        step = _align_to(self.element.size, self.element.align)
        mem.received(start, length * step)
        return every([lambda i=i: self.element.load(mem, start + i * step) for i in range(length)])

    def _put(self, value, mem, owned):
        items = list(value)
        step = _align_to(self.element.size, self.element.align)
        if not items:
            return 0, 0
        start = mem.alloc(step * len(items), self.element.align)
        owned.append(start)
        for i, item in enumerate(items):
            self.element.store(mem, start + i * step, item, owned)
        return start, len(items)


class Record(Type):
    """A dataclass or a TypedDict as a WIT record; fields in declaration order."""

    def __init__(self, cls, fields, name="tuple"):
        self.cls = cls
        self.name = name  # the WIT name, checked
        self.fields = fields  # [(python name, Type)]
        offset, align = 0, 1
        self.offsets = []
        for _, field in fields:
            offset = _align_to(offset, field.align)
            self.offsets.append(offset)
            offset += field.size
            align = max(align, field.align)
        self.align = align
        self.size = _align_to(offset, align)
        self.flat = tuple(t for _, field in fields for t in field.flat)

    def wit(self):
        return _escape(self.name)

    def definition(self):
        """The record's WIT declaration, as lines."""
        fields = [f"  {_escape(_kebab(name))}: {field.wit()}," for name, field in self.fields]
        return [f"record {_escape(self.name)} {{", *fields, "}"]

    def load(self, mem, ptr):
        reads = [lambda f=field, o=off: f.load(mem, ptr + o) for (_, field), off in zip(self.fields, self.offsets)]
        return self._make(dict(zip((name for name, _ in self.fields), every(reads))))

    def store(self, mem, ptr, value, owned):
        for (name, field), off in zip(self.fields, self.offsets):
            field.store(mem, ptr + off, _field(value, name), owned)

    def lift(self, flat, mem):
        reads = [lambda f=field: f.lift(flat, mem) for _, field in self.fields]
        return self._make(dict(zip((name for name, _ in self.fields), every(reads))))

    def lower(self, value, mem, owned):
        return [v for name, field in self.fields for v in field.lower(_field(value, name), mem, owned)]

    def _make(self, values):
        return self.cls(**values) if dataclasses.is_dataclass(self.cls) else dict(values)


class Variant(Type):
    """option<T> (cases none, some) and result<T, E> (ok, err); `None` for a case without a
    payload."""

    def __init__(self, cases):
        self.cases = cases
        payload_align = max((c.align for c in cases if c is not None), default=1)
        self.payload_offset = _align_to(1, payload_align)
        payload_size = max((c.size for c in cases if c is not None), default=0)
        self.align = max(1, payload_align)
        self.size = _align_to(self.payload_offset + payload_size, self.align)
        joined = []
        for case in cases:
            for i, t in enumerate(case.flat if case is not None else ()):
                if i < len(joined):
                    joined[i] = _join(joined[i], t)
                else:
                    joined.append(t)
        self.joined = tuple(joined)
        self.flat = ("i32",) + self.joined

    def load(self, mem, ptr):
        index = _case(mem.read(ptr, 1)[0], self.cases)
        case = self.cases[index]
        payload = case.load(mem, ptr + self.payload_offset) if case is not None else None
        return index, payload

    def store_case(self, mem, ptr, index, payload, owned):
        mem.write(ptr, bytes([index]))
        case = self.cases[index]
        if case is not None:
            case.store(mem, ptr + self.payload_offset, payload, owned)

    def lift_case(self, flat, mem):
        index = next(flat) & 0xFFFFFFFF
        values = [next(flat) for _ in self.joined]
        _case(index, self.cases)
        case = self.cases[index]
        if case is None:
            return index, None
        own = iter([_coerce(v, have, want) for v, have, want in zip(values, self.joined, case.flat)])
        return index, case.lift(own, mem)

    def lower_case(self, index, payload, mem, owned):
        case = self.cases[index]
        values = case.lower(payload, mem, owned) if case is not None else []
        flat = [_widen(v, have, want) for v, have, want in zip(values, case.flat if case else (), self.joined)]
        flat += [0] * (len(self.joined) - len(flat))
        return [index] + flat


class Option(Variant):
    def __init__(self, inner):
        self.inner = inner
        super().__init__([None, inner])

    def wit(self):
        return f"option<{self.inner.wit()}>"

    def load(self, mem, ptr):
        return super().load(mem, ptr)[1]

    def store(self, mem, ptr, value, owned):
        self.store_case(mem, ptr, 0 if value is None else 1, value, owned)

    def lift(self, flat, mem):
        return self.lift_case(flat, mem)[1]

    def lower(self, value, mem, owned):
        return self.lower_case(0 if value is None else 1, value, mem, owned)


class Result(Variant):
    """result<T, string>: what every export returns, the exception's text in `err`."""

    def __init__(self, ok):
        self.ok = ok
        super().__init__([ok, String()])

    def wit(self):
        return f"result<{self.ok.wit()}, string>" if self.ok is not None else "result<_, string>"


class Function:
    """An export's or an import's WIT signature and its core (flat) signature."""

    def __init__(self, name, params, result):
        self.name = name  # the WIT name
        self.params = params  # [(WIT name, Type)]
        self.result = result  # a Type, or None
        flat = [t for _, p in params for t in p.flat]
        self.params_in_memory = len(flat) > MAX_FLAT_PARAMS
        self.core_params = ("i32",) if self.params_in_memory else tuple(flat)
        if params:
            self.tuple = Record.__new__(Record)
            Record.__init__(self.tuple, dict, [(n, p) for n, p in params])

    def wit(self):
        params = ", ".join(f"{_escape(n)}: {p.wit()}" for n, p in self.params)
        result = f" -> {self.result.wit()}" if self.result is not None else ""
        return f"{_escape(self.name)}: func({params}){result};"


# ---- helpers ------------------------------------------------------------------------------


def every(reads):
    """The values of `reads` (callables), all of them called even when one raises, so that
    every buffer the host handed over is seen (and freed); then the first exception."""
    values, error = [], None
    for read in reads:
        try:
            values.append(read())
        except Exception as e:
            error = error or e
            values.append(None)
    if error is not None:
        raise error
    return values


def _case(index, cases):
    if index >= len(cases):
        raise ValueError(f"variant case {index} out of range")
    return index


def _align_to(offset, align):
    return (offset + align - 1) // align * align


def _join(a, b):
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def _coerce(value, have, want):
    """A joined flat value back to the case's own type."""
    if have == want:
        return value
    if want == "i32":
        return value & 0xFFFFFFFF
    if want == "f64":
        return struct.unpack("<d", struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))[0]
    if want == "f32":
        return struct.unpack("<f", struct.pack("<I", value & 0xFFFFFFFF))[0]
    return value


def _widen(value, have, want):
    """A case's flat value as the joined type."""
    if have == want:
        return value
    if have == "f64":
        return struct.unpack("<q", struct.pack("<d", value))[0]
    if have == "f32":
        return struct.unpack("<I", struct.pack("<f", value))[0]
    return value & 0xFFFFFFFF if have == "i32" else value


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _s64(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected int, got {type(value).__name__}")
    if not -(1 << 63) <= value < (1 << 63):
        raise OverflowError(f"{value} does not fit in s64")
    return value


def _f64(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected float, got {type(value).__name__}")
    value = float(value)
    return value if not math.isnan(value) else math.nan


def _as_bytes(value):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def _put_bytes(data, align, mem, owned):
    if not data:
        return 0, 0
    start = mem.alloc(len(data), align)
    owned.append(start)
    mem.write(start, data)
    return start, len(data)


def _field(value, name):
    return value[name] if isinstance(value, dict) else getattr(value, name)


KEYWORDS = frozenset(
    "use type func u8 u16 u32 u64 s8 s16 s32 s64 f32 f64 char resource own borrow record flags "
    "variant enum bool string option result future stream error-context list map as from static "
    "interface tuple world import export package constructor include with async".split()
)


def _escape(name):
    """`name` as WIT source: a keyword takes a `%`."""
    return f"%{name}" if name in KEYWORDS else name


def _kebab(name):
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and (name[i - 1].islower() or name[i - 1].isdigit()):
            out.append("-")
        out.append("-" if c == "_" else c.lower())
    return "".join(out).strip("-")
