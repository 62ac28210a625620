// Calls the exports of a pywasm library module from node (docs/abi.md), on one live instance.
//
//   node library.mjs module.wasm calls.json
//
// calls.json is a list of [export name, argument as a base64 string]; the output is one JSON
// list of [true, result as base64, events] or [false, error text, events], one per call, where
// events lists (as base64) what the call passed to the host function `host.emit`, which answers
// nothing. The host function `env.lookup` answers with {"len": <argument length>, "text": <argument as text>} as JSON, to
// show the way back: the host writes its answer into a buffer from the guest's pywasm_alloc.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [wasmPath, callsPath] = process.argv.slice(2);
const calls = JSON.parse(await readFile(callsPath, "utf8"));

const wasi = new WASI({ version: "preview1", args: ["library"], env: {}, preopens: {}, returnOnExit: true });
let instance;
const memory = () => new Uint8Array(instance.exports.memory.buffer);

/** Copies `bytes` into a fresh guest buffer; returns [ptr, len]. */
function toGuest(bytes) {
  if (bytes.length === 0) return [0, 0];
  const ptr = instance.exports.pywasm_alloc(bytes.length);
  if (ptr === 0) throw new Error("pywasm_alloc failed");
  memory().set(bytes, ptr);
  return [ptr, bytes.length];
}

/** Reads and frees a packed (ptr << 32 | len) result. */
function fromGuest(packed) {
  const ptr = Number(BigInt.asUintN(64, packed) >> 32n);
  const len = Number(BigInt.asUintN(32, packed));
  const bytes = memory().slice(ptr, ptr + len);
  if (len > 0) instance.exports.pywasm_free(ptr, len);
  return Buffer.from(bytes);
}

const env = {
  lookup(ptr, len) {
    const text = Buffer.from(memory().slice(ptr, ptr + len)).toString("utf8");
    const answer = Buffer.from(JSON.stringify({ len, text }));
    const [out, n] = toGuest(answer);
    return (BigInt(out) << 32n) | BigInt(n);
  },
};

// The events of the call running now.
let emitted = [];
const host = {
  emit(ptr, len) {
    emitted.push(Buffer.from(memory().slice(ptr, ptr + len)).toString("base64"));
    return 0n;
  },
};

const module = await WebAssembly.compile(await readFile(wasmPath));
instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport, env, host });
wasi.initialize(instance);

const results = calls.map(([name, argument]) => {
  emitted = [];
  const [ptr, len] = toGuest(Buffer.from(argument, "base64"));
  const packed = instance.exports[name](ptr, len);
  if (len > 0) instance.exports.pywasm_free(ptr, len);
  if (packed < 0n) {
    return [false, fromGuest(instance.exports.pywasm_error()).toString("utf8"), emitted];
  }
  return [true, fromGuest(packed).toString("base64"), emitted];
});
process.stdout.write(JSON.stringify(results) + "\n");
