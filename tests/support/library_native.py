"""Calls a library's exports under native CPython through pywasm's own Python side of the ABI
(templates/guest/pywasm), so that tests compare every call's result with the module's.

    python library_native.py REQUEST.json

REQUEST: {"path": [dirs for sys.path], "exports": [[name, "module:function"], ...],
"hosts": [host function names], "calls": [[export name, argument as base64], ...]}. Prints one
JSON list of [true, result as base64] or [false, error text], one per call. The host function
`lookup` answers as the test hosts do: {"len": <argument length>, "text": <argument>} as JSON;
`emit` records its argument and answers nothing. With "events": true in the request, each
answer gets a third item: the list of what the call emitted, each as base64.
With "repeat": N in the request, each call is instead made N times after a warm-up, and the
output is one JSON object of export name to nanoseconds per call (`cargo xtask bench`).
"""
import base64
import json
import sys
import types


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    sys.path[0:0] = request["path"]

    emitted = []

    def call_host(index, data):
        name = request["hosts"][index]
        if name == "emit":
            emitted.append(base64.b64encode(data).decode())
            return b""
        if name != "lookup":
            return None
        return json.dumps({"len": len(data), "text": data.decode("utf-8")},
                          separators=(",", ":")).encode()

    fake = types.ModuleType("_pywasm")
    fake.HOST_NAMES = tuple(request["hosts"])
    fake.call_host = call_host
    sys.modules["_pywasm"] = fake

    import pywasm._exports as exports

    exports.register([tuple(e) for e in request["exports"]])
    names = [e[0] for e in request["exports"]]
    repeat = request.get("repeat")
    if repeat:
        import time

        timings = {}
        for name, argument in request["calls"]:
            index, data = names.index(name), base64.b64decode(argument)
            for _ in range(repeat // 10 + 1):
                exports.call(index, data)
            start = time.perf_counter_ns()
            for _ in range(repeat):
                exports.call(index, data)
            timings[name] = (time.perf_counter_ns() - start) // repeat
        sys.stdout.write(json.dumps(timings) + "\n")
        return
    results = []
    for name, argument in request["calls"]:
        ok, out = exports.call(names.index(name), base64.b64decode(argument))
        answer = [True, base64.b64encode(out).decode()] if ok else [False, out.decode()]
        if request.get("events"):
            answer.append(emitted[:])
        emitted.clear()
        results.append(answer)
    sys.stdout.write(json.dumps(results) + "\n")


main()
