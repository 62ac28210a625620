// Runs a WASI preview1 command under node's built-in WASI, as a user would:
//   node run-wasi.mjs module.wasm argv0 [args...]
// Host directories to preopen come from PYWASM_PREOPENS, a JSON object {"/guest": "/host"}; the
// default is none at all. The module's exit code becomes node's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [wasmPath, ...args] = process.argv.slice(2);
const preopens = JSON.parse(process.env.PYWASM_PREOPENS || "{}");
// The guest's environment, a JSON object; empty by default.
const env = JSON.parse(process.env.PYWASM_ENV || "{}");
// returnOnExit: false lets proc_exit end node directly; unwinding through V8 after long runs has
// crashed node 20 at exit.
const wasi = new WASI({ version: "preview1", args, env, preopens, returnOnExit: false });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
