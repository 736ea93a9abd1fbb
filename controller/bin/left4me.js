#!/usr/bin/env node
// Thin launcher: the CLI is compiled from TypeScript into dist/ by `npm ci` (prepare).
import { main } from '../../dist/controller/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 70; },
);
