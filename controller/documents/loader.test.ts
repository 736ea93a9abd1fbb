import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState, type LoadOptions } from './loader.js';
import { formatProblem } from './problems.js';

// A valid tree the cases break one piece of at a time.
const BASE = `apiVersion: left4me/v1
kind: Installation
metadata:
  name: demo
spec:
  source: directory
  path: /srv/left4me/installations/demo
---
apiVersion: left4me/v1
kind: Overlay
metadata:
  name: base
spec:
  sources:
    - files:
        - path: left4dead2/cfg/motd.txt
          content: welcome
  aliases:
    zonemod: sm_forcematch zonemod
---
apiVersion: left4me/v1
kind: Blueprint
metadata:
  name: coop
spec:
  installation: demo
  overlays: [base]
---
apiVersion: left4me/v1
kind: Instance
metadata:
  name: one
spec:
  blueprint: coop
  port: 27015
`;

/** A document whose spec starts at line 6: header lines 1-5 are apiVersion, kind, metadata, name, spec. */
function doc(kind: string, name: string, ...spec: string[]): string {
  return [`apiVersion: left4me/v1`, `kind: ${kind}`, `metadata:`, `  name: ${name}`, `spec:`, ...spec.map((l) => `  ${l}`)].join('\n') + '\n';
}

/** doc() with `owner:` after the name: the spec then starts at line 7. */
function owned(kind: string, name: string, owner: string, ...spec: string[]): string {
  return doc(kind, name, ...spec).replace(`  name: ${name}\n`, `  name: ${name}\n  owner: ${owner}\n`);
}
const OWNER_RULE = 'a document owned by a user may use only "system" documents and that user\'s own';

const ABSOLUTE_HINT = "must be an absolute, normalized path of letters, digits and . _ @ + - (no '.' or '..' segments, no '//' or trailing '/')";
const MODE_HINT = 'must be an octal permission without set-id bits or group or other write, e.g. 0644 or 0755';
const CVAR_VALUE_HINT = "cannot contain quotes, ';', control characters, line separators or unpaired surrogates (they would inject console commands)";
const LAUNCH_ARG_HINT = "cannot contain whitespace, control characters, quotes, backslashes, '%', '$', ';', '`' or glob characters (* ? [)";
const notBelow = (path: string) =>
  `"${path}" is not below an installation root of this host (/srv/left4me/installations): put the game tree in a directory there, or ask the operator to allow its parent with --installation-root`;

interface Case {
  name: string;
  /** Content of bad.yaml; a function gets the case's directory for special files. */
  bad?: string;
  /** Replace base.yaml (default: BASE). */
  base?: string;
  setup?: (dir: string) => void;
  /** Expected problems in bad.yaml (or `file`), in order: [line, pointer, message]. */
  expect: Array<[number, string, string]>;
  file?: string;
  kindName?: string;
  /** Loader options beyond the size limit; gets the case's directory. */
  opts?: (dir: string) => Partial<LoadOptions>;
}

const root = mkdtempSync(join(tmpdir(), 'left4me-loader-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function run(c: Case) {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'base.yaml'), c.base ?? BASE);
  if (c.bad !== undefined) writeFileSync(join(dir, 'bad.yaml'), c.bad.replaceAll('<case>', dir));
  c.setup?.(dir);
  return { dir, state: await loadState(dir, { limits: { maxFileBytes: 128 * 1024 }, ...c.opts?.(dir) }) };
}

const cases: Case[] = [
  // --- YAML and files ---------------------------------------------------------
  { name: 'broken flow sequence', bad: 'kind: Instance\nspec: [1, 2\nmetadata: {}\n', expect: [[3, '', 'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]']] },
  { name: 'tab indentation', bad: 'kind: Instance\nspec:\n\tblueprint: coop\n', expect: [[3, '', 'invalid YAML: Tabs are not allowed as indentation']] },
  { name: 'duplicate key', bad: doc('Instance', 'x', 'blueprint: coop', 'blueprint: coop'), expect: [[7, '', 'duplicate key: Map keys must be unique']] },
  { name: 'custom tag', bad: doc('Instance', 'x', 'blueprint: !include coop'), expect: [[6, '', 'Unresolved tag: !include (custom YAML tags are not allowed)']] },
  { name: 'binary tag', bad: doc('Instance', 'x', 'blueprint: !!binary Y29vcA=='), expect: [[6, '', 'YAML tag !!binary is not allowed (only plain strings, numbers, booleans, lists and maps)']] },
  {
    name: 'alias bomb',
    bad: 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
    expect: [[1, '', 'too many YAML aliases (more than 200 expansions): refused as a possible alias bomb']],
  },
  { name: 'nesting deep enough to exhaust the stack', bad: `a: ${'['.repeat(20000)}\n`, expect: [[1, '', 'YAML nesting is too deep']] },
  { name: 'document is a list', bad: '- kind: Instance\n- kind: Overlay\n', expect: [[1, '', 'a document must be a map with apiVersion, kind, metadata and spec (got a list)']] },
  { name: 'document is a scalar', bad: 'just some text\n', expect: [[1, '', 'a document must be a map with apiVersion, kind, metadata and spec (got a string)']] },
  { name: 'missing kind', bad: 'apiVersion: left4me/v1\nmetadata:\n  name: x\nspec: {}\n', expect: [[1, '', 'missing "kind" (one of Installation, Overlay, Blueprint, Instance)']] },
  { name: 'unknown kind', bad: 'apiVersion: left4me/v1\nkind: Server\nmetadata:\n  name: x\n', expect: [[2, '/kind', 'unknown kind "Server" (expected one of Installation, Overlay, Blueprint, Instance)']] },
  { name: 'file over the size limit', bad: `# ${'x'.repeat(130 * 1024)}\n`, expect: [[1, '', 'file is larger than 131072 bytes; refused']] },
  {
    name: 'symlink leading outside the state directory',
    setup: (dir) => {
      writeFileSync(join(dirname(dir), `${dir.split('/').pop()}-outside.yaml`), BASE);
      symlinkSync(join(dirname(dir), `${dir.split('/').pop()}-outside.yaml`), join(dir, 'bad.yaml'));
    },
    expect: [[1, '', 'symbolic link leads outside the state directory (to OUTSIDE); refused']],
  },
  {
    name: 'symlinked directory leading outside',
    file: 'evil',
    setup: (dir) => symlinkSync('/etc', join(dir, 'evil')),
    expect: [[1, '', 'symbolic link leads outside the state directory (to /etc); refused']],
  },
  { name: 'dangling symlink', setup: (dir) => symlinkSync(join(dir, 'nowhere.yaml'), join(dir, 'bad.yaml')), expect: [[1, '', 'symbolic link points nowhere']] },
  { name: 'FIFO named like YAML', setup: (dir) => execFileSync('mkfifo', [join(dir, 'bad.yaml')]), expect: [[1, '', 'not a regular file (device, FIFO or socket); refused']] },

  // --- the schema: envelope and metadata ----------------------------------------
  { name: 'wrong apiVersion', bad: doc('Instance', 'x', 'blueprint: coop').replace('left4me/v1', 'left4me/v2'), kindName: 'instance/x', expect: [[1, '/apiVersion', 'must be "left4me/v1" (got "left4me/v2")']] },
  { name: 'missing metadata', bad: 'apiVersion: left4me/v1\nkind: Instance\nspec:\n  blueprint: coop\n', kindName: 'instance/?', expect: [[1, '', 'missing required field "metadata"']] },
  { name: 'name with a path trick', bad: doc('Instance', '../../etc', 'blueprint: coop'), kindName: 'instance/?', expect: [[4, '/metadata/name', '"../../etc" must be lowercase letters, digits and \'-\', starting with a letter or digit, at most 63 characters (names become directory and unit names)']] },
  { name: 'name with a slash', bad: doc('Overlay', 'maps/evil', 'sources: [{workshop: {items: [1]}}]'), kindName: 'overlay/?', expect: [[4, '/metadata/name', '"maps/evil" must be lowercase letters, digits and \'-\', starting with a letter or digit, at most 63 characters (names become directory and unit names)']] },
  { name: 'status written into a document', bad: doc('Instance', 'x', 'blueprint: coop') + 'status:\n  ready: true\n', kindName: 'instance/x', expect: [[7, '/status', 'unknown field "status" — status is kept by the controller, never in documents (allowed here: apiVersion, kind, metadata, spec)']] },
  { name: 'misspelt field', bad: doc('Instance', 'x', 'blueprint: coop', 'staet: running'), kindName: 'instance/x', expect: [[7, '/spec/staet', 'unknown field "staet" — did you mean "state"?']] },
  { name: 'missing required field', bad: doc('Instance', 'x', 'state: running'), kindName: 'instance/x', expect: [[5, '/spec', 'missing required field "blueprint"']] },
  { name: 'enum with wrong case', bad: doc('Instance', 'x', 'blueprint: coop', 'updatePolicy: WhenEmpty'), kindName: 'instance/x', expect: [[7, '/spec/updatePolicy', 'must be one of "whenEmpty", "immediate", "manual" (got "WhenEmpty") — did you mean "whenEmpty"?']] },
  { name: 'port as a string', bad: doc('Instance', 'x', 'blueprint: coop', 'port: "27016"'), kindName: 'instance/x', expect: [[7, '/spec/port', 'must be an integer (got a string)']] },
  { name: 'port above 65535', bad: doc('Instance', 'x', 'blueprint: coop', 'port: 70000'), kindName: 'instance/x', expect: [[7, '/spec/port', 'must be <= 65535 (got 70000)']] },
  { name: 'cvar value injecting a command', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  hostname: "pwn\\"; rcon_password x"'), kindName: 'instance/x', expect: [[8, '/spec/cvars/hostname', `"pwn\\"; rcon_password x" ${CVAR_VALUE_HINT}`]] },
  { name: 'cvar value with a line break', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  hostname: "a\\nsv_cheats 1"'), kindName: 'instance/x', expect: [[8, '/spec/cvars/hostname', `"a\\nsv_cheats 1" ${CVAR_VALUE_HINT}`]] },
  ...(
    [
      ['NUL', '\\0', '\\u0000'],
      ['tab', '\\t', '\\t'],
      ['escape', '\\e', '\\u001b'],
      ['DEL', '\\x7f', '\\u007f'],
      ['next line (U+0085)', '\\N', '\\u0085'],
      ['C1 control', '\\x9b', '\\u009b'],
      ['line separator (U+2028)', '\\L', '\\u2028'],
      ['paragraph separator (U+2029)', '\\P', '\\u2029'],
    ] as const
  ).map(([what, yaml, shown]): Case => ({
    name: `cvar value with a ${what}`,
    bad: doc('Blueprint', 'x', 'cvars:', `  sv_tags: "a${yaml}sv_cheats 1"`),
    kindName: 'blueprint/x',
    expect: [[7, '/spec/cvars/sv_tags', `"a${shown}sv_cheats 1" ${CVAR_VALUE_HINT}`]],
  })),
  { name: 'cvar that is the exec command', bad: doc('Blueprint', 'x', 'cvars:', '  exec: autoexec.cfg'), kindName: 'blueprint/x', expect: [[7, '/spec/cvars/exec', 'cvar "exec" cannot be set here: it is a console command that runs other config text or defines commands, not a console variable']] },
  { name: 'cvar that loads a plugin', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  plugin_load: addons/evil'), kindName: 'instance/x', expect: [[8, '/spec/cvars/plugin_load', 'cvar "plugin_load" cannot be set here: it is a console command that loads or runs code, not a console variable']] },
  { name: 'cvar that quits, in capitals', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  QUIT: 1'), kindName: 'instance/x', expect: [[8, '/spec/cvars/QUIT', 'cvar "QUIT" cannot be set here: it is a console command that stops, restarts or pauses the server, not a console variable']] },
  { name: 'cvar that is an engine-internal command', bad: doc('Blueprint', 'x', 'cvars:', '  _restart: 1'), kindName: 'blueprint/x', expect: [[7, '/spec/cvars/_restart', 'cvar "_restart" cannot be set here: names starting with "_" are engine-internal commands, not console variables']] },
  { name: 'cvar that ships logs away', bad: doc('Blueprint', 'x', 'cvars:', '  logaddress_add_http: "http://203.0.113.9/"'), kindName: 'blueprint/x', expect: [[7, '/spec/cvars/logaddress_add_http', 'cvar "logaddress_add_http" cannot be set here: it is a console command that sends data to other hosts, not a console variable']] },
  { name: 'cvar that sets other cvars through SourceMod', bad: doc('Blueprint', 'x', 'cvars:', '  sm_cvar: rcon_password'), kindName: 'blueprint/x', expect: [[7, '/spec/cvars/sm_cvar', 'cvar "sm_cvar" cannot be set here: it is a console command that loads or runs code, not a console variable']] },
  { name: 'real cvars that sound dangerous are allowed', bad: doc('Blueprint', 'x', 'cvars:', '  sv_cheats: 1', '  sv_password: secret', '  sv_logecho: 0', '  sm_show_activity: 0'), expect: [] },
  { name: 'cvar name with spaces', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  "sv cheats": 1'), kindName: 'instance/x', expect: [[8, '/spec/cvars/sv cheats', '"sv cheats" is not a valid key here: it must be a console variable name: letters, digits and \'_\', not starting with a digit']] },
  { name: 'restartedAt not a timestamp', bad: doc('Instance', 'x', 'blueprint: coop').replace('  name: x\n', '  name: x\n  annotations:\n    left4me/restartedAt: yesterday\n'), kindName: 'instance/x', expect: [[6, '/metadata/annotations/left4me~1restartedAt', '"yesterday" is not a valid date-time (RFC 3339, e.g. 2026-11-21T18:00:00Z)']] },
  { name: 'owner that is not a user name', bad: doc('Instance', 'x', 'blueprint: coop').replace('  name: x\n', '  name: x\n  owner: "Bob Smith"\n'), kindName: 'instance/x', expect: [[5, '/metadata/owner', '"Bob Smith" must be a user name: lowercase letters, digits, \'_\' and \'-\', starting with a letter or \'_\'']] },

  // --- Installation -------------------------------------------------------------
  { name: 'directory installation without path', bad: doc('Installation', 'x', 'source: directory'), kindName: 'installation/x', expect: [[5, '/spec', 'missing required field "path"']] },
  { name: 'steam installation with a path', bad: doc('Installation', 'x', 'source: steam', 'path: /opt/l4d2'), kindName: 'installation/x', expect: [[7, '/spec/path', '"path" is not allowed here with the other settings of this document (see the field\'s description)']] },
  { name: 'relative installation path', bad: doc('Installation', 'x', 'source: directory', 'path: ../l4d2'), kindName: 'installation/x', expect: [[7, '/spec/path', `"../l4d2" ${ABSOLUTE_HINT}`]] },
  { name: 'absolute installation path climbing out', bad: doc('Installation', 'x', 'source: directory', 'path: /../etc'), kindName: 'installation/x', expect: [[7, '/spec/path', `"/../etc" ${ABSOLUTE_HINT}`]] },
  { name: 'refresh in a hot loop', bad: doc('Installation', 'x', 'source: steam', 'refresh: 0s'), kindName: 'installation/x', expect: [[7, '/spec/refresh', 'refresh 0s is shorter than the 1h minimum: checking more often only hammers Steam']] },
  { name: 'installation refresh under an hour', bad: doc('Installation', 'x', 'source: steam', 'refresh: 59m59s'), kindName: 'installation/x', expect: [[7, '/spec/refresh', 'refresh 59m59s is shorter than the 1h minimum: checking more often only hammers Steam']] },
  { name: 'overlay refresh under an hour', bad: doc('Overlay', 'x', 'sources: [{workshop: {items: [1]}}]', 'refresh: 5m'), kindName: 'overlay/x', expect: [[7, '/spec/refresh', 'refresh 5m is shorter than the 1h minimum: checking more often only hammers Steam']] },
  { name: 'hourly refresh is the shortest allowed', bad: doc('Installation', 'x', 'source: steam', 'refresh: 1h'), expect: [] },

  // --- Installation directories: only below the operator's roots, never through a link ---
  { name: 'directory installation over another instance\'s config', bad: doc('Installation', 'x', 'source: directory', 'path: /var/lib/left4me/instances/other/config'), kindName: 'installation/x', expect: [[7, '/spec/path', notBelow('/var/lib/left4me/instances/other/config')]] },
  { name: 'directory installation over another instance\'s runtime', bad: doc('Installation', 'x', 'source: directory', 'path: /var/lib/left4me/runtime/other'), kindName: 'installation/x', expect: [[7, '/spec/path', notBelow('/var/lib/left4me/runtime/other')]] },
  { name: 'directory installation over the secrets', bad: doc('Installation', 'x', 'source: directory', 'path: /etc/left4me'), kindName: 'installation/x', expect: [[7, '/spec/path', notBelow('/etc/left4me')]] },
  { name: 'directory installation of the whole file system', bad: doc('Installation', 'x', 'source: directory', 'path: /'), kindName: 'installation/x', expect: [[7, '/spec/path', `"/" ${ABSOLUTE_HINT}`]] },
  { name: 'directory installation climbing out of a root', bad: doc('Installation', 'x', 'source: directory', 'path: /srv/left4me/installations/../../../etc/left4me'), kindName: 'installation/x', expect: [[7, '/spec/path', `"/srv/left4me/installations/../../../etc/left4me" ${ABSOLUTE_HINT}`]] },
  { name: 'directory installation in a sibling sharing the root\'s prefix', bad: doc('Installation', 'x', 'source: directory', 'path: /srv/left4me/installations-evil/l4d2'), kindName: 'installation/x', expect: [[7, '/spec/path', notBelow('/srv/left4me/installations-evil/l4d2')]] },
  { name: 'directory installation that is the root itself', bad: doc('Installation', 'x', 'source: directory', 'path: /srv/left4me/installations'), kindName: 'installation/x', expect: [[7, '/spec/path', '"/srv/left4me/installations" is an installation root itself; put the game tree in a directory below it, e.g. /srv/left4me/installations/l4d2']] },
  { name: 'directory installation smuggling mount options', bad: doc('Installation', 'x', 'source: directory', 'path: "/srv/left4me/installations/a,lowerdir=/etc"'), kindName: 'installation/x', expect: [[7, '/spec/path', `"/srv/left4me/installations/a,lowerdir=/etc" ${ABSOLUTE_HINT}`]] },
  {
    name: 'directory installation through a symlinked component',
    setup: (dir) => {
      // The link leads to another server's data in real life; here it stays in the tree, which the scanner reads.
      mkdirSync(join(dir, 'roots', 'inst'), { recursive: true });
      mkdirSync(join(dir, 'roots', 'data', 'instances', 'other', 'config'), { recursive: true });
      symlinkSync(join(dir, 'roots', 'data'), join(dir, 'roots', 'inst', 'link'));
    },
    opts: (dir) => ({ installationRoots: ['/srv/left4me/installations', join(dir, 'roots', 'inst')] }),
    bad: doc('Installation', 'x', 'source: directory', 'path: <case>/roots/inst/link/instances/other/config'),
    kindName: 'installation/x',
    expect: [[7, '/spec/path', '"<case>/roots/inst/link/instances/other/config" goes through a symbolic link at <case>/roots/inst/link; a directory installation must be reached without links: use the real path']],
  },
  {
    name: 'directory installation below a symlinked root',
    setup: (dir) => {
      mkdirSync(join(dir, 'roots', 'inst', 'real'), { recursive: true });
      symlinkSync(join(dir, 'roots', 'inst'), join(dir, 'roots', 'alias'));
    },
    opts: (dir) => ({ installationRoots: ['/srv/left4me/installations', join(dir, 'roots', 'alias')] }),
    bad: doc('Installation', 'x', 'source: directory', 'path: <case>/roots/alias/real'),
    kindName: 'installation/x',
    expect: [[7, '/spec/path', '"<case>/roots/alias/real" goes through a symbolic link at <case>/roots/alias; a directory installation must be reached without links: use the real path']],
  },
  {
    name: 'directory installation when the operator allows none',
    opts: () => ({ installationRoots: [] }),
    base: BASE.replace('  source: directory\n  path: /srv/left4me/installations/demo\n', '  source: steam\n'),
    bad: doc('Installation', 'x', 'source: directory', 'path: /srv/left4me/installations/l4d2'),
    kindName: 'installation/x',
    expect: [[7, '/spec/path', 'directory installations are not allowed on this host (the controller has no --installation-root); use source: steam, or ask the operator to allow a directory']],
  },
  {
    name: 'directory installation in an existing tree below a root is accepted',
    setup: (dir) => mkdirSync(join(dir, 'roots', 'inst', 'l4d2'), { recursive: true }),
    opts: (dir) => ({ installationRoots: ['/srv/left4me/installations', join(dir, 'roots', 'inst')] }),
    bad: doc('Installation', 'x', 'source: directory', 'path: <case>/roots/inst/l4d2'),
    expect: [],
  },
  { name: 'unknown installation source', bad: doc('Installation', 'x', 'source: stem'), kindName: 'installation/x', expect: [[6, '/spec/source', 'must be one of "steam", "directory" (got "stem") — did you mean "steam"?']] },

  // --- Overlay ------------------------------------------------------------------
  { name: 'source with two types', bad: doc('Overlay', 'x', 'sources:', '  - workshop: {items: [1]}', '    script: {run: "true"}'), kindName: 'overlay/x', expect: [[7, '/spec/sources/0', 'needs exactly one of files, archive, workshop, script (found workshop, script)']] },
  { name: 'empty source', bad: doc('Overlay', 'x', 'sources:', '  - {}'), kindName: 'overlay/x', expect: [[7, '/spec/sources/0', 'needs exactly one of files, archive, workshop, script (found none)']] },
  { name: 'file path escaping the layer', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: ../../etc/cron.d/x', '        content: boom'), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/files/0/path', '"../../etc/cron.d/x" must be a relative path with \'/\' separators: no leading or trailing \'/\', no \'.\' or \'..\' segments, no \'//\', backslashes or control characters']] },
  { name: 'absolute file path', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: /etc/passwd', '        content: boom'), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/files/0/path', '"/etc/passwd" must be a relative path with \'/\' separators: no leading or trailing \'/\', no \'.\' or \'..\' segments, no \'//\', backslashes or control characters']] },
  { name: 'file path naming a directory', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: left4dead2/cfg/', '        content: x'), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/files/0/path', '"left4dead2/cfg/" must be a relative path with \'/\' separators: no leading or trailing \'/\', no \'.\' or \'..\' segments, no \'//\', backslashes or control characters']] },
  { name: 'file with content and url', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.cfg', '        content: x', `        url: https://example.org/a.cfg`), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/files/0', 'give exactly one of: content, or url + sha256']] },
  { name: 'set-id file mode', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.sh', '        content: x', '        mode: "4755"'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/files/0/mode', `"4755" ${MODE_HINT}`]] },
  { name: 'group-writable file mode', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.cfg', '        content: x', '        mode: "0664"'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/files/0/mode', `"0664" ${MODE_HINT}`]] },
  { name: 'world-writable file mode', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.cfg', '        content: x', '        mode: "777"'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/files/0/mode', `"777" ${MODE_HINT}`]] },
  { name: 'other-writable file mode', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.cfg', '        content: x', '        mode: "0642"'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/files/0/mode', `"0642" ${MODE_HINT}`]] },
  { name: 'same file twice in one list', bad: doc('Overlay', 'x', 'sources:', '  - files:', '      - path: a.cfg', '        content: x', '      - path: a.cfg', '        content: y'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/files/1/path', 'file "a.cfg" is already written by entry 0 of this list']] },
  { name: 'archive without sha256', bad: doc('Overlay', 'x', 'sources:', '  - archive:', '      url: https://example.org/a.zip'), kindName: 'overlay/x', expect: [[7, '/spec/sources/0/archive', 'missing required field "sha256"']] },
  { name: 'archive sha256 in upper case', bad: doc('Overlay', 'x', 'sources:', '  - archive:', '      url: https://example.org/a.zip', `      sha256: ${'AB'.repeat(32)}`), kindName: 'overlay/x', expect: [[9, '/spec/sources/0/archive/sha256', `"${'AB'.repeat(32)}" must be 64 lowercase hex digits (a SHA-256 digest)`]] },
  { name: 'archive from a file:// URL', bad: doc('Overlay', 'x', 'sources:', '  - archive:', '      url: file:///etc/shadow', `      sha256: ${'a'.repeat(64)}`), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/archive/url', '"file:///etc/shadow" must be an http:// or https:// URL']] },
  { name: 'archive target escaping', bad: doc('Overlay', 'x', 'sources:', '  - archive:', '      url: https://example.org/a.zip', `      sha256: ${'a'.repeat(64)}`, '      target: left4dead2/../..'), kindName: 'overlay/x', expect: [[10, '/spec/sources/0/archive/target', '"left4dead2/../.." must be a relative path with \'/\' separators: no leading or trailing \'/\', no \'.\' or \'..\' segments, no \'//\', backslashes or control characters']] },
  { name: 'workshop id that is not a number', bad: doc('Overlay', 'x', 'sources:', '  - workshop:', '      items: [abc]'), kindName: 'overlay/x', expect: [[8, '/spec/sources/0/workshop/items/0', '"abc" must be a Steam Workshop id (digits only, e.g. 698857882)']] },
  { name: 'workshop without ids', bad: doc('Overlay', 'x', 'sources:', '  - workshop: {}'), kindName: 'overlay/x', expect: [[7, '/spec/sources/0/workshop', 'needs at least one of items, collections']] },
  { name: 'script timeout over the maximum', bad: doc('Overlay', 'x', 'sources:', '  - script:', '      run: echo hi', '      timeout: 7h'), kindName: 'overlay/x', expect: [[9, '/spec/sources/0/script/timeout', 'script timeout 7h is longer than the 6h maximum']] },
  { name: 'refresh that is not a duration', bad: doc('Overlay', 'x', 'sources: [{workshop: {items: [1]}}]', 'refresh: 1 day'), kindName: 'overlay/x', expect: [[7, '/spec/refresh', '"1 day" must be a duration such as 30s, 15m, 6h, 1d or 1h30m']] },
  { name: 'oversized server.cfg fragment', bad: doc('Overlay', 'x', 'sources: [{workshop: {items: [1]}}]', `serverCfg: "${'x'.repeat(65537)}"`), kindName: 'overlay/x', expect: [[7, '/spec/serverCfg', 'is too long: 65537 characters (at most 65536)']] },

  // --- Blueprint ----------------------------------------------------------------
  { name: 'too many players', bad: doc('Blueprint', 'x', 'overlays: [base]', 'maxPlayers: 33'), kindName: 'blueprint/x', expect: [[7, '/spec/maxPlayers', 'must be <= 32 (got 33)']] },
  { name: 'map name with a path', bad: doc('Blueprint', 'x', 'map: ../maps/evil'), kindName: 'blueprint/x', expect: [[6, '/spec/map', '"../maps/evil" must match the pattern ^[A-Za-z0-9_-]{1,64}$']] },
  { name: 'launch argument with shell characters', bad: doc('Blueprint', 'x', 'launchArgs: ["+exec", "$(reboot)"]'), kindName: 'blueprint/x', expect: [[6, '/spec/launchArgs/1', `"$(reboot)" ${LAUNCH_ARG_HINT}`]] },
  { name: 'reserved launch argument', bad: doc('Blueprint', 'x', 'launchArgs:', '  - -nohltv', '  - -port', '  - "27999"'), kindName: 'blueprint/x', expect: [[8, '/spec/launchArgs/1', '"-port" is set by left4me (from map, tickrate, maxPlayers and the leased ports) or unsafe under systemd; remove it']] },
  { name: 'launch argument with a control character', bad: doc('Blueprint', 'x', 'launchArgs: ["+sv_lan\\x01"]'), kindName: 'blueprint/x', expect: [[6, '/spec/launchArgs/0', `"+sv_lan\\u0001" ${LAUNCH_ARG_HINT}`]] },
  { name: 'launch argument with an unpaired surrogate', bad: doc('Blueprint', 'x', 'launchArgs: ["-a\\ud800"]'), kindName: 'blueprint/x', expect: [[6, '/spec/launchArgs/0', `"-a\\ud800" ${LAUNCH_ARG_HINT}`]] },
  { name: 'cvar value with an unpaired surrogate', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  hostname: "a\\udc00"'), kindName: 'instance/x', expect: [[8, '/spec/cvars/hostname', `"a\\udc00" ${CVAR_VALUE_HINT}`]] },
  { name: 'launch argument that srcds_run would glob', bad: doc('Blueprint', 'x', 'launchArgs: ["+exec", "*.cfg"]'), kindName: 'blueprint/x', expect: [[6, '/spec/launchArgs/1', `"*.cfg" ${LAUNCH_ARG_HINT}`]] },
  { name: 'launch argument that runs another program', bad: doc('Blueprint', 'x', 'launchArgs: ["-debug"]'), kindName: 'blueprint/x', expect: [[6, '/spec/launchArgs/0', '"-debug" is set by left4me (from map, tickrate, maxPlayers and the leased ports) or unsafe under systemd; remove it']] },
  { name: 'overlay listed twice', bad: doc('Blueprint', 'x', 'overlays: [base, base]'), kindName: 'blueprint/x', expect: [[6, '/spec/overlays/1', 'duplicate entry "base" (also at index 0)']] },
  { name: 'missing overlay', bad: doc('Blueprint', 'x', 'overlays:', '  - base', '  - bases'), kindName: 'blueprint/x', expect: [[8, '/spec/overlays/1', 'Overlay "bases" does not exist — did you mean "base"?']] },
  { name: 'missing installation', bad: doc('Blueprint', 'x', 'installation: steam'), kindName: 'blueprint/x', expect: [[6, '/spec/installation', 'Installation "steam" does not exist (defined: demo)']] },
  { name: 'no installation named among several', bad: doc('Installation', 'other', 'source: steam') + '---\n' + doc('Blueprint', 'x', 'map: c2m1_highway'), file: 'bad.yaml', kindName: 'blueprint/x', expect: [[12, '/spec', 'spec.installation is required when several Installations exist (demo, other)']] },
  { name: 'exec of an undefined alias', bad: doc('Blueprint', 'x', 'overlays: [base]', 'exec: [zonemod, confogl]'), kindName: 'blueprint/x', expect: [[7, '/spec/exec/1', 'alias "confogl" is not defined by any overlay in this blueprint\'s stack (defined: zonemod)']] },

  // --- Instance references and ports ----------------------------------------------
  { name: 'missing blueprint', bad: doc('Instance', 'x', 'blueprint: cop'), kindName: 'instance/x', expect: [[6, '/spec/blueprint', 'Blueprint "cop" does not exist — did you mean "coop"?']] },
  { name: 'port outside the range', bad: doc('Instance', 'x', 'blueprint: coop', 'port: 28000'), kindName: 'instance/x', expect: [[7, '/spec/port', 'port 28000 is outside the game port range 27015-27115']] },
  { name: 'client port outside its range', bad: doc('Instance', 'x', 'blueprint: coop', 'clientPort: 27005'), kindName: 'instance/x', expect: [[7, '/spec/clientPort', 'client port 27005 is outside the client port range 26900-27000']] },

  // --- who may use whose documents --------------------------------------------------
  { name: "a user's instance on another user's blueprint", bad: owned('Blueprint', 'bobs', 'bob', 'overlays: [base]') + '---\n' + owned('Instance', 'x', 'alice', 'blueprint: bobs'), kindName: 'instance/x', expect: [[15, '/spec/blueprint', `instance x (owner alice) may not use blueprint bobs of bob: ${OWNER_RULE}`]] },
  { name: "a user's blueprint on another user's overlay", bad: owned('Overlay', 'bobs', 'bob', 'sources: [{workshop: {items: [1]}}]') + '---\n' + owned('Blueprint', 'x', 'alice', 'overlays: [base, bobs]'), kindName: 'blueprint/x', expect: [[15, '/spec/overlays/1', `blueprint x (owner alice) may not use overlay bobs of bob: ${OWNER_RULE}`]] },
  { name: "a user's blueprint on another user's installation", bad: owned('Installation', 'bobs', 'bob', 'source: steam') + '---\n' + owned('Blueprint', 'x', 'alice', 'installation: bobs'), kindName: 'blueprint/x', expect: [[15, '/spec/installation', `blueprint x (owner alice) may not use installation bobs of bob: ${OWNER_RULE}`]] },
  {
    name: "the only installation, used without naming it, is another user's",
    base: BASE.replace('  name: demo\n', '  name: demo\n  owner: bob\n').replace('  installation: demo\n', ''),
    bad: owned('Blueprint', 'x', 'alice', 'map: c2m1_highway'),
    kindName: 'blueprint/x',
    expect: [[6, '/spec', `blueprint x (owner alice) may not use installation demo of bob: ${OWNER_RULE}`]],
  },
  { name: "a user's instance on an invalid blueprint of another user: both said", bad: owned('Blueprint', 'bobs', 'bob', 'maxPlayers: 99') + '---\n' + owned('Instance', 'x', 'alice', 'blueprint: bobs'), expect: [[7, '/spec/maxPlayers', 'must be <= 32 (got 99)'], [15, '/spec/blueprint', `instance x (owner alice) may not use blueprint bobs of bob: ${OWNER_RULE}`]] },
  { name: 'a user may use system documents and its own', bad: owned('Overlay', 'mine', 'alice', 'sources: [{workshop: {items: [1]}}]') + '---\n' + owned('Blueprint', 'x', 'alice', 'overlays: [base, mine]') + '---\n' + owned('Instance', 'y', 'alice', 'blueprint: x') + '---\n' + owned('Instance', 'z', 'alice', 'blueprint: coop'), expect: [] },
  { name: "a system document may use a user's (admins write those)", bad: owned('Blueprint', 'x', 'alice', 'overlays: [base]') + '---\n' + doc('Instance', 'y', 'blueprint: x'), expect: [] },
  { name: 'rcon password in a document', bad: doc('Instance', 'x', 'blueprint: coop', 'cvars:', '  rcon_password: hunter2'), kindName: 'instance/x', expect: [[8, '/spec/cvars/rcon_password', 'cvar "rcon_password" cannot be set here: the RCON password is generated per instance and kept in a root-only secrets file; it never goes into documents']] },
];

describe('loader: invalid input is reported precisely and never crashes', () => {
  it('has at least 40 failure classes', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  for (const c of cases) {
    it(c.name, async () => {
      const { dir, state } = await run(c);
      const file = join(dir, c.file ?? 'bad.yaml');
      const mine = state.problems.filter((p) => p.file === file);
      const others = state.problems.filter((p) => p.file !== file);
      expect(others.map(formatProblem)).toEqual([]);
      const caseName = dir.split('/').pop()!;
      expect(mine.map((p) => [p.line, p.pointer, p.message])).toEqual(
        c.expect.map(([line, pointer, message]) => [line, pointer, message.replace('OUTSIDE', join(root, `${caseName}-outside.yaml`)).replaceAll('<case>', dir)]),
      );
      if (c.kindName) {
        for (const p of mine) expect(`${p.kind?.toLowerCase()}/${p.name}`).toBe(c.kindName);
      }
      // The valid base documents are still loaded: one bad file never hides the others.
      if (!c.base) expect([...state.instances.keys()]).toContain('one');
    });
  }
});
