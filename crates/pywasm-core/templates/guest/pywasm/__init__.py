"""What a pywasm library module gives its Python code.

`host.NAME(value)` calls the host function NAME listed under `[tool.pywasm.imports]`: the value
goes over as bytes (bytes as they are, str as UTF-8, None as nothing, anything else as JSON) and
the host's answer comes back as bytes. See docs/abi.md.
"""
from ._host import HostError, host

__all__ = ["HostError", "host"]
