#!/usr/bin/env node
// Thin launcher: the CLI is compiled from TypeScript into dist/ by `npm ci` (prepare).
// The controller answers SIGHUP ("reconcile now"); its default action would end
// the process, so the daemon ignores it from its first statement, before the
// CLI's modules load (the controller installs its real handler later).
if (process.argv[2] === 'controller') process.on('SIGHUP', () => {});
const { main } = await import('../../dist/controller/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 70; },
);
