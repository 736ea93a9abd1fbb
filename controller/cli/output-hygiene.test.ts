// Issue 8, item 12: text that a server, a build or a document controls reaches
// an operator's terminal only with its control characters escaped.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../package-root.js';
import { StatusStore } from '../status/store.js';
import { main } from './main.js';

/** A hostile server name / build output line: clear screen, OSC 52 clipboard write, BEL, \r and backspace overwrite, C1 CSI, bidi overrides, NUL, DEL. */
const HOSTILE = 'Evil\x1b[2J\x1b]52;c;ZXZpbA==\x07 srv\rOK \bX \u202egnp.exe\x9b31m\u2066end\x00\x7f\u0085';
/** What it looks like on the terminal after escaping. */
const SHOWN = 'Evil\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07 srv\\rOK \\x08X \\u202egnp.exe\\x9b31m\\u2066end\\x00\\x7f\\x85';
/** Anything a terminal could act on; \n and \t are the only controls the CLI writes raw. */
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

let root: string;
let state: string;
let data: string;

/** A YAML double-quoted scalar in plain ASCII: the file itself holds no control character. */
function yamlQuoted(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'left4me-hygiene-'));
  state = join(root, 'state');
  data = join(root, 'data');
  cpSync(join(packageRoot(), 'state.example'), state, { recursive: true });
  // A document author's text: YAML escapes give the document real control characters.
  writeFileSync(
    join(state, 'overlays', 'evil.yaml'),
    [
      'apiVersion: left4me/v1',
      'kind: Overlay',
      'metadata: {name: evil}',
      'spec:',
      '  sources: [{files: [{path: left4dead2/cfg/evil.cfg, content: "x"}]}]',
      `  serverCfg: ${yamlQuoted(`// ${HOSTILE}\n`)}`,
      '',
    ].join('\n'),
  );
  const store = new StatusStore(join(data, 'status'));
  const t = new Date().toISOString();
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, observedGeneration: 'g', lastTransitionTime: t });
  await store.write({
    kind: 'Instance',
    name: 'coop-1',
    conditions: [
      cond('Healthy', 'True', 'Answering', `answers A2S: "${HOSTILE}" on c1m1_hotel, 1/8 players`),
      cond('Ready', 'False', 'Failed', `${HOSTILE}\nfake-row   True   Running   1s   all fine`),
    ],
    lastError: { message: `script failed; last output:\n  ${HOSTILE}\nName:        not-coop-1`, time: t },
    events: [{ time: t, type: 'Warning', reason: 'Unhealthy', message: HOSTILE }],
  } as never);
  mkdirSync(join(data, 'logs', 'overlays', 'evil'), { recursive: true });
  writeFileSync(join(data, 'logs', 'overlays', 'evil', 'b1.log'), `line one\n  [script] ${HOSTILE}\n\tindented\nlast\n`);
  await store.write({
    kind: 'Overlay',
    name: 'evil',
    conditions: [],
    build: { wanted: 'b1', generation: 'g', checkedAt: t, result: 'Failed', log: 'logs/overlays/evil/b1.log', tail: [HOSTILE] },
    events: [],
  });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('what the CLI prints is escaped', () => {
  it('describe: A2S server names, build output in conditions, events and the last error', async () => {
    const r = await cli('describe', 'instance', 'coop-1', '--state', state, '--data-dir', data);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(UNSAFE);
    expect(r.out).toContain(`answers A2S: "${SHOWN}" on c1m1_hotel`);
    // A line break in a message stays in its table row: no forged rows or fields.
    const lines = r.out.split('\n');
    const conditions = lines.slice(lines.indexOf('Conditions:') + 2, lines.indexOf('Conditions:') + 4);
    expect(conditions.map((l) => l.trim().split(/\s+/)[0])).toEqual(['Healthy', 'Ready']);
    expect(lines.filter((l) => /^\s*fake-row/.test(l))).toEqual([]);
    expect(lines.filter((l) => /^Name:/.test(l))).toEqual(['Name:        coop-1']);
    expect(r.out).toContain(`  ${SHOWN}`);
  });

  it('logs: a hostile build log keeps its lines and tabs, loses its escapes', async () => {
    const r = await cli('logs', 'overlay', 'evil', '--state', state, '--data-dir', data);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`line one\n  [script] ${SHOWN}\n\tindented\nlast\n`);
    const tail = await cli('logs', 'overlay', 'evil', '--tail', '3', '--state', state, '--data-dir', data);
    expect(tail.out).toBe(`  [script] ${SHOWN}\n\tindented\nlast\n`);
  });

  it('get -o json and -o yaml stay exact: the escapes are the format\'s own', async () => {
    const json = await cli('get', 'overlay', 'evil', '-o', 'json', '--state', state, '--data-dir', data);
    expect(json.out).not.toMatch(UNSAFE);
    const doc = JSON.parse(json.out) as { spec: { serverCfg: string }; status: { build: { tail: string[] } } };
    expect(doc.spec.serverCfg).toBe(`// ${HOSTILE}\n`);
    expect(doc.status.build.tail).toEqual([HOSTILE]);
    const yaml = await cli('get', 'overlay', 'evil', '-o', 'yaml', '--state', state, '--data-dir', data);
    expect(yaml.out).not.toMatch(UNSAFE);
    const back = parseYaml(yaml.out) as typeof doc;
    expect(back.spec.serverCfg).toBe(`// ${HOSTILE}\n`);
    expect(back.status.build.tail).toEqual([HOSTILE]);
    const all = await cli('get', 'instances', '-o', 'yaml', '--state', state, '--data-dir', data);
    expect(all.out).not.toMatch(UNSAFE);
    expect((all.out.split('---\n').map((d) => parseYaml(d)) as { status?: { events: { message: string }[] } }[]).find((d) => d.status)?.status?.events[0]?.message).toBe(HOSTILE);
  });

  it('describe shows a document\'s own text escaped in its spec', async () => {
    const r = await cli('describe', 'overlay', 'evil', '--state', state, '--data-dir', data);
    expect(r.out).not.toMatch(UNSAFE);
    // The spec is YAML: its own escapes (\e, \u202e) spell the characters.
    expect(r.out).toContain('Evil\\e[2J\\e]52;c;ZXZpbA==\\a srv\\rOK \\bX \\u202egnp.exe\\x9b31m\\u2066end\\0\\x7f\\x85');
  });

  it('tables, problems and usage errors that quote what people or documents wrote', async () => {
    const get = await cli('get', 'instances', '--state', state, '--data-dir', data);
    expect(get.out).not.toMatch(UNSAFE);
    const names = await cli('get', 'instances', '-o', 'name', '--state', state);
    expect(get.out.trimEnd().split('\n')).toHaveLength(names.out.trimEnd().split('\n').length + 1);
    const usage = await cli(`\x1b]52;c;ZXZpbA==\x07`);
    expect(usage.err).not.toMatch(UNSAFE);
    expect(usage.err).toContain('unknown command "\\x1b]52;c;ZXZpbA==\\x07"');
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.yaml'), 'apiVersion: left4me/v1\nkind: Instance\nmetadata: {name: x}\nspec: {blueprint: b, "\\e[2J\\u202e": 1}\n');
    const validate = await cli('validate', bad);
    expect(validate.code).toBe(1);
    expect(validate.out).not.toMatch(UNSAFE);
    expect(validate.out).toContain('\\x1b[2J\\u202e');
  });
});
