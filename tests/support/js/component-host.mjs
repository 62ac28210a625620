// Calls a pywasm library built as a component from node, through jco: the component is
// transpiled to JavaScript and core modules (@bytecodealliance/jco-transpile), instantiated with
// @bytecodealliance/preview2-shim's WASI (no files, no environment, no network) and the host
// function `env.lookup`, then every call runs on that one instance:
//   node component-host.mjs component.wasm calls.json
// calls.json: [[export name (WIT), [arguments]], ...], the arguments as jco takes them but in
// JSON: {"$s64": "12"} is a BigInt, {"$bytes": [1, 2]} a Uint8Array, null an absent option;
// record fields are already in camelCase. Prints one JSON line per call: {"ok": value} with
// record fields in snake_case, bytes as a list of ints, s64 as a number, or {"err": "Type:
// message"}, the first line of the exception's text.
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { transpile } from "@bytecodealliance/jco-transpile";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";

const [componentPath, callsPath] = process.argv.slice(2);
const calls = JSON.parse(await readFile(callsPath, "utf8"));

const { files } = await transpile(componentPath, { name: "library", instantiation: "async" });
const out = await mkdtemp(join(tmpdir(), "pywasm-jco-"));
try {
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(out, name)), { recursive: true });
    await writeFile(join(out, name), bytes);
  }
  const { instantiate } = await import(pathToFileURL(join(out, "library.js")).href);
  const wasi = new WASIShim({ sandbox: { preopens: {}, env: {}, args: ["library"], enableNetwork: false } });
  const text = new TextEncoder();
  const imports = {
    ...wasi.getImportObject(),
    env: {
      lookup: (argument) => {
        const decoded = new TextDecoder().decode(argument);
        return text.encode(JSON.stringify({ len: argument.length, text: decoded }));
      },
    },
  };
  const library = await instantiate(
    (path) => WebAssembly.compile(files[path]),
    imports,
  );
  for (const [name, args] of calls) {
    const camel = name.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
    let line;
    try {
      line = { ok: toJson(library[camel](...args.map(fromJson))) };
    } catch (e) {
      // A result's `err` is thrown: as the string itself, or as a ComponentError's payload.
      const text = typeof e === "string" ? e : e?.payload;
      if (typeof text !== "string") throw e;
      line = { err: text.split("\n")[0] };
    }
    console.log(JSON.stringify(line));
  }
} finally {
  await rm(out, { recursive: true, force: true });
}

function fromJson(value) {
  if (value === null) return undefined;
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value === "object") {
    if ("$s64" in value) return BigInt(value.$s64);
    if ("$bytes" in value) return new Uint8Array(value.$bytes);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}

function toJson(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const snake = (k) => k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), toJson(v)]));
  }
  return value;
}
