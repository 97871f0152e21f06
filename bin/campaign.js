#!/usr/bin/env node
// The `campaign` command: runs the compiled CLI (built by `npm ci` through the prepare script).
require('../dist/workers/cli/main.js').runFromCommandLine();
