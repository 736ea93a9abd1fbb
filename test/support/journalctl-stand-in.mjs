#!/usr/bin/env node
// A stand-in for `journalctl -o json` in unit tests of the web's log routes
// (the real journal is read in test/web-logs.test.ts on a private host).
// Usage: journalctl-stand-in.mjs ENTRIES.jsonl RECORD_DIR <journalctl args…>
// Entries are journal JSON lines; it answers -u, -n, --after-cursor and
// --follow as journalctl does, and records its argv and pid so a test can
// check what it was asked and that it was stopped.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [entriesFile, recordDir, ...args] = process.argv.slice(2);
writeFileSync(join(recordDir, `${process.pid}.json`), JSON.stringify(args));
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const unit = opt('-u');
const n = opt('-n') !== undefined ? Number(opt('-n')) : Infinity;
const after = args.find((a) => a.startsWith('--after-cursor='))?.slice('--after-cursor='.length);
const follow = args.includes('--follow');
// demo-2 stands for a journal the account may not open.
if (unit === 'left4me-server@demo-2.service') {
  process.stderr.write('Failed to open journal: permission denied\n');
  process.exit(1);
}
const read = () => readFileSync(entriesFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e._SYSTEMD_UNIT === unit);
let entries = read();
let start = 0;
if (after !== undefined) start = entries.findIndex((e) => e.__CURSOR === after) + 1;
else start = Math.max(0, entries.length - n);
for (const e of entries.slice(start)) process.stdout.write(`${JSON.stringify(e)}\n`);
let sent = entries.length;
if (follow) {
  process.on('SIGTERM', () => {
    appendFileSync(join(recordDir, 'stopped'), `${process.pid}\n`);
    process.exit(0);
  });
  setInterval(() => {
    entries = read();
    for (const e of entries.slice(sent)) process.stdout.write(`${JSON.stringify(e)}\n`);
    sent = entries.length;
  }, 30);
}
