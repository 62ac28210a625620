"""The entry point: `pywasm build` compiles this project into dist/{{name}}.wasm, whose start runs
`main()` with the module's arguments in sys.argv."""

import sys


def greet(name: str) -> str:
    return f"Hello, {name}!"


def main() -> int:
    names = sys.argv[1:] or ["world"]
    for name in names:
        print(greet(name))
    return 0
