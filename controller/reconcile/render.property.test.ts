// Property: whatever documents an author writes, the loader refuses them or
// the controller can render them. Rendering (unit files, launch.env,
// server.cfg) never throws on a document validation let through: a throw
// there would be a key retried forever with no status. Generators follow the
// JSON Schemas in schemas/, and mix in what attackers write (quotes, ';',
// control characters, line separators, lone surrogates, console commands,
// commas and spaces in paths, stacks too tall to mount).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { controllerConfig } from '../config.js';
import { loadState } from '../documents/loader.js';
import { LAUNCH_ARGS_VAR, MANAGED_HEADER } from '../systemd/units.js';
import { SERVER_CFG } from './config-layer.js';
import { resolveInstance, type ReadyBuilds } from './resolve.js';

const root = mkdtempSync(join(tmpdir(), 'left4me-property-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cfg = controllerConfig();
const builds: ReadyBuilds = { ready: () => 'c'.repeat(16), failure: () => undefined, installation: () => ({ ready: 'd'.repeat(16) }) };

// What attackers type, next to anything at all.
const NASTY = ['"', ';', '\n', '\r', '\t', '\0', '\u007f', '\u0085', '\u2028', '\u2029', '\ud800', '//', ' ', ',', ':', '%', '$', '\\', 'exec ', '+quit'];
// Mostly what the schema wants, sometimes anything: a tree with one bad field in each document would hide the rest.
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: bad, weight: 1 });
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 4 })), { maxLength: 8 }).map((a) => a.join('').slice(0, maxLength)),
  );

const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
// Short stacks, and tall ones of long names: around 40 such names pass the kernel's page of mount options.
const overlayList = fc.oneof(
  { arbitrary: fc.uniqueArray(name, { maxLength: 8 }), weight: 4 },
  { arbitrary: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{50,62}$/), { minLength: 25, maxLength: 66, size: 'max' }), weight: 1 },
);
const cvarName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/),
  fc.constantFrom('hostname', 'sv_cheats', 'sv_password', 'exec', 'Exec', 'quit', 'alias', 'plugin_load', 'logaddress_add', '_restart', 'rcon_password', 'sm_cvar'),
);
const cvarValue = mostly(fc.oneof(fc.stringMatching(/^[a-z0-9 ._-]{0,20}$/), fc.integer(), fc.double(), fc.boolean()), anyText(40));
const cvars = fc.dictionary(mostly(fc.stringMatching(/^[a-z][a-z0-9_]{0,30}$/), cvarName), cvarValue, { maxKeys: 4 });
const launchArg = fc.oneof(fc.oneof(fc.stringMatching(/^[-+][a-z_]{1,12}$/), fc.stringMatching(/^[0-9]{1,4}$/)), fc.oneof(fc.constantFrom('-port', '-debug', '+exec', '-nohltv'), anyText(12)));
const installationPath = fc.oneof(
  fc.array(fc.stringMatching(/^[A-Za-z0-9._@+-]{1,20}$/), { minLength: 1, maxLength: 4 }).map((s) => `/srv/left4me/installations/${s.join('/')}`),
  fc.array(fc.stringMatching(/^[A-Za-z0-9._@+-]{1,60}$/), { minLength: 1, maxLength: 60 }).map((s) => `/srv/left4me/installations/${s.join('/')}`.slice(0, 1024)),
  anyText(30).map((s) => `/srv/left4me/installations/${s}`),
  fc.constantFrom('/', '/etc/left4me', '/var/lib/left4me/instances/other/config', '/srv/left4me/installations-evil/x', '/srv/left4me/installations/a,b', '/srv/left4me/installations/a b'),
);

const documents = fc
  .record({
    overlays: overlayList,
    serverCfg: anyText(60),
    alias: fc.tuple(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/), anyText(40)),
    installation: mostly(fc.constant({ source: 'steam' }), installationPath.map((path) => ({ source: 'directory', path }))),
    blueprint: fc.record(
      {
        map: mostly(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), anyText(10)),
        maxPlayers: mostly(fc.integer({ min: 1, max: 32 }), fc.integer({ min: -1, max: 300 })),
        tickrate: mostly(fc.integer({ min: 10, max: 128 }), fc.integer({ min: 0, max: 1000 })),
        gameMode: fc.stringMatching(/^[a-z][a-z0-9_]{0,31}$/),
        difficulty: fc.constantFrom('easy', 'normal', 'hard', 'impossible'),
        cvars,
        launchArgs: fc.array(launchArg, { maxLength: 5 }),
        serverCfg: anyText(60),
      },
      { requiredKeys: [] },
    ),
    instances: fc.uniqueArray(fc.record({ name, cvars, port: fc.option(fc.integer({ min: 27015, max: 27115 }), { nil: undefined }) }), { maxLength: 3, selector: (i) => i.name }),
  })
  .map((d) => {
    const doc = (kind: string, metaName: string, spec: unknown) => stringify({ apiVersion: 'left4me/v1', kind, metadata: { name: metaName }, spec });
    const [aliasName, aliasText] = d.alias;
    return [
      doc('Installation', 'game', d.installation),
      ...d.overlays.map((o, i) => doc('Overlay', o, { sources: [{ files: [{ path: `left4dead2/cfg/${i}.cfg`, content: 'x' }] }], ...(i === 0 ? { serverCfg: d.serverCfg, aliases: { [aliasName]: aliasText } } : {}) })),
      doc('Blueprint', 'bp', { overlays: d.overlays.slice(0, 64), ...(d.overlays.length > 0 ? { exec: [aliasName] } : {}), ...d.blueprint }),
      ...d.instances.map((i) => doc('Instance', i.name, { blueprint: 'bp', cvars: i.cvars, ...(i.port !== undefined ? { port: i.port } : {}) })),
    ].join('---\n');
  });

let run = 0;

// Trees that broke rendering once, kept as fixed examples so they are tried on every run.
const tree = (blueprint: string, extra = '') =>
  `apiVersion: left4me/v1\nkind: Installation\nmetadata: {name: game}\nspec: {source: steam}\n---\n${extra}apiVersion: left4me/v1\nkind: Blueprint\nmetadata: {name: bp}\nspec: ${blueprint}\n---\napiVersion: left4me/v1\nkind: Instance\nmetadata: {name: one}\nspec: {blueprint: bp}\n`;
const tall = Array.from({ length: 64 }, (_, i) => `o${String(i).padStart(2, '0')}${'x'.repeat(59)}`);
const EXAMPLES: Array<[string]> = [
  [tree('{launchArgs: ["+sv_lan\\x01"]}')],
  [tree('{launchArgs: ["-a\\ud800"]}')],
  [tree('{cvars: {hostname: "a\\ud800"}}')],
  [tree(`{overlays: [${tall.join(', ')}]}`, tall.map((o) => `apiVersion: left4me/v1\nkind: Overlay\nmetadata: {name: ${o}}\nspec: {sources: [{files: [{path: a, content: x}]}]}\n---\n`).join(''))],
  [tree('{}').replace('spec: {source: steam}', 'spec: {source: directory, path: "/srv/left4me/installations/a b,c"}')],
];

describe('documents the schemas accept always render', () => {
  it('loads or refuses every generated tree, and renders every instance it loads (units, launch.env, server.cfg) without throwing', async () => {
    await fc.assert(
      fc.asyncProperty(documents, async (text) => {
        const dir = join(root, `t${run++}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'state.yaml'), text);
        const state = await loadState(dir);
        for (const [instanceName, doc] of state.instances) {
          const r = resolveInstance(state, doc, { port: 27015, clientPort: 26900 }, 'generated-password', cfg, builds, 1879048192);
          if ('blocked' in r) {
            // The one thing no schema can bound alone is the height of a stack on this host's paths.
            if (r.reason === 'Invalid') expect(r.message).toMatch(/the overlay mount options are \d+ bytes, more than the kernel's 4095/);
            else expect(['DependencyInvalid', 'DependencyMissing']).toContain(r.reason);
            continue;
          }
          const files = [...r.intent.files];
          const launchEnv = files.find(([path]) => path.endsWith('/launch.env'))?.[1];
          const mount = files.find(([path]) => path.endsWith('.mount'))?.[1];
          // launch.env is the header and one variable: nothing an argument holds starts another line.
          expect(launchEnv!.split('\n')).toEqual([MANAGED_HEADER, expect.stringMatching(new RegExp(`^${LAUNCH_ARGS_VAR}="[^\\n]*"$`)), '']);
          const options = /^Options=(.*)$/m.exec(mount!)?.[1];
          expect(options!.length).toBeLessThanOrEqual(4095);
          // Every cvar of the instance is one line `name "value"`: its value cannot end the line or the command.
          const serverCfg = r.configLayer.files.get(SERVER_CFG)!;
          for (const [cvar, value] of Object.entries(doc.spec.cvars ?? {})) {
            const shown = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
            expect(shown).toMatch(/^[^"\u0000-\u001f\u007f-\u009f\u2028\u2029;]*$/u);
            expect(serverCfg).toContain(`\n${cvar} "${shown}"\n`);
          }
          expect(serverCfg.endsWith(`\nrcon_password "generated-password"\n`)).toBe(true);
          expect(instanceName).toBe(doc.metadata.name);
        }
      }),
      { numRuns: 300, examples: EXAMPLES },
    );
  }, 120_000);
});
