#!/usr/bin/env node
// The `campaign` command: runs the compiled CLI (built by `npm ci` through the prepare script).
const { runCli } = require('../dist/workers/cli/main.js');

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
