// Runs a WASI preview1 command under node's built-in WASI for `pywasm test --on node`:
//   node run_node.mjs module.wasm '{"/guest": "/host"}' '{"KEY": "value"}' [args...]
// The module's exit code becomes node's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [wasmPath, preopens, env, ...args] = process.argv.slice(2);
// returnOnExit: true: proc_exit unwinds to wasi.start, which returns the exit code, and node
// ends as usual. Ending node inside proc_exit (returnOnExit: false) crashes node 20 (SIGSEGV in a
// background TurboFan job) when a module exits while V8 is still optimising its hot functions: 7
// of 25 runs of a short command on a loaded machine.
const wasi = new WASI({
  version: "preview1",
  args: ["tests", ...args],
  env: JSON.parse(env),
  preopens: JSON.parse(preopens),
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
