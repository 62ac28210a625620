"""`pywasm.host`: the host functions of `[tool.pywasm.imports]`."""
import _pywasm

from ._codec import encode


class HostError(RuntimeError):
    """A host function answered with an error (a negative result)."""


class _Host:
    def __init__(self, names):
        self._index = {name: i for i, name in enumerate(names)}

    def __getattr__(self, name):
        try:
            index = self._index[name]
        except KeyError:
            raise AttributeError(
                f"no host function {name!r}: list it under [tool.pywasm.imports] in pyproject.toml"
            ) from None

        def call(value=None):
            answer = _pywasm.call_host(index, encode(value))
            if answer is None:
                raise HostError(f"host function {name!r} failed")
            return answer

        call.__name__ = name
        return call

    def __dir__(self):
        return sorted(self._index)


host = _Host(_pywasm.HOST_NAMES)
