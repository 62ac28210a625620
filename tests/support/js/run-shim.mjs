// Runs a WASI preview1 command under @bjorn3/browser_wasi_shim, the pure-JavaScript WASI that
// browsers use, with no preopened directory:
//   node run-shim.mjs module.wasm argv0 [args...]
// stdin is read whole before the start; the module's exit code becomes node's.
import { readFile } from "node:fs/promises";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";

const [wasmPath, ...args] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const stdin = new OpenFile(new File(new Uint8Array(Buffer.concat(chunks))));
const sink = (stream) => new ConsoleStdout((bytes) => stream.write(bytes));
// `debug` must be false explicitly: left out, the shim logs every call.
const wasi = new WASI(args, [], [stdin, sink(process.stdout), sink(process.stderr)], { debug: false });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, {
  wasi_snapshot_preview1: wasi.wasiImport,
});
process.exitCode = wasi.start(instance);
