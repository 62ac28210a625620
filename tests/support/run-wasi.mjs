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
// returnOnExit: true: proc_exit unwinds to wasi.start, which returns the exit code, and node
// ends as usual. Ending node inside proc_exit (returnOnExit: false) crashes node 20 (SIGSEGV in a
// background TurboFan job) when a module exits while V8 is still optimising its hot functions: 7
// of 25 runs of a short command on a loaded machine.
const wasi = new WASI({ version: "preview1", args, env, preopens, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
