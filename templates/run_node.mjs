// Runs a WASI preview1 command under node's built-in WASI for `pywasm test --on node`:
//   node run_node.mjs module.wasm '{"/guest": "/host"}' '{"KEY": "value"}' [args...]
// The module's exit code becomes node's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [wasmPath, preopens, env, ...args] = process.argv.slice(2);
// returnOnExit: false lets proc_exit end node directly; unwinding through V8 after long runs has
// crashed node 20 at exit.
const wasi = new WASI({
  version: "preview1",
  args: ["tests", ...args],
  env: JSON.parse(env),
  preopens: JSON.parse(preopens),
  returnOnExit: false,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
