#!/usr/bin/env -S node --max-semi-space-size=4
// (The flag: a young generation of 4 MiB instead of V8's 16 keeps the controller
// at 100 servers under 100 MiB resident; measured by `npm run bench`.)
// Thin launcher: the CLI is compiled from TypeScript into dist/ by `npm ci` in a
// checkout (prepare), and ships compiled in the package (`npm pack`).
// The controller answers SIGHUP ("reconcile now"); its default action would end
// the process, so the daemon ignores it from its first statement, before the
// CLI's modules load (the controller installs its real handler later).
if (process.argv[2] === 'controller') process.on('SIGHUP', () => {});
const { main } = await import('../../dist/controller/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 70; },
);
