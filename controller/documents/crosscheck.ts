import { kindKey, type Document, type Kind } from './kinds.js';
import { consoleCommandProblem } from './console-commands.js';
import { closest } from './suggest.js';
import { RESERVED_LAUNCH_ARGS } from './launch-args.js';
import { shownSource } from './problems.js';

/** Port ranges the controller leases from; explicit ports must fall inside them. */
export interface PortRanges {
  game: { min: number; max: number };
  client: { min: number; max: number };
}

/** Default ranges: game ports 27015-27115, client ports 26900-27000 (disjoint, so 100 instances fit). */
export const DEFAULT_PORT_RANGES: PortRanges = {
  game: { min: 27015, max: 27115 },
  client: { min: 26900, max: 27000 },
};

/** A cross-document problem, attached to one document at a pointer. */
export interface CrossIssue {
  doc: Document;
  pointer: string;
  message: string;
}

/** Cvars that documents must not set: secrets live outside the (often git-tracked) state tree, ports are leased. */
const RESERVED_CVARS: Record<string, string> = {
  rcon_password: 'the RCON password is generated per instance and kept in a root-only secrets file; it never goes into documents',
  hostport: 'the game port is set by spec.port or leased automatically',
  clientport: 'the client port is set by spec.clientPort or leased automatically',
  ip: 'the bind address is set by left4me',
};

type Docs = { [K in Kind]: Document<K>[] };

const where = (d: Document) => shownSource(d.source);

function suggest(name: string, known: Iterable<string>): string {
  const list = [...known].sort();
  if (list.length === 0) return ' (none are defined)';
  const guess = closest(name, list);
  return guess ? ` — did you mean "${guess}"?` : ` (defined: ${list.slice(0, 8).join(', ')}${list.length > 8 ? ', …' : ''})`;
}

/** The owner written in each document, by kind and name (undefined when it cannot be read); see ownerProblem. */
export type Owners = Record<Kind, Map<string, string | undefined>>;

/**
 * Why `doc` may not use `kind` `name`, or undefined. A document owned by a
 * user may use only `system` documents and its owner's own: otherwise one
 * user's server would run another user's config (which that user can change
 * at any time), and the web API's promise that users never see each other's
 * documents would leak through references. `system` documents are written by
 * admins, who may reference what they choose. An owner that cannot be read
 * (an unreadable or duplicate document) is not judged: its own problem says why.
 */
export function ownerProblem(doc: Document, kind: Kind, name: string, owners: Owners | undefined): string | undefined {
  const mine = doc.metadata.owner;
  if (!owners || mine === 'system') return undefined;
  const theirs = owners[kind].get(name);
  if (theirs === undefined || theirs === 'system' || theirs === mine) return undefined;
  return (
    `${kindKey(doc.kind)} ${doc.metadata.name} (owner ${mine}) may not use ${kindKey(kind)} ${name} of ${theirs}: ` +
    `a document owned by a user may use only "system" documents and that user's own`
  );
}

/**
 * Checks what a schema cannot see across documents: duplicate names, references
 * (blueprint → installation and overlays, instance → blueprint) and who owns
 * what they reference, aliases a blueprint execs, reserved launch arguments and
 * cvars, and explicit ports (inside the ranges, unique per node). `known` holds
 * every name written in the tree, valid or not, so a reference to a broken
 * document is not reported twice; `owners` the owner each of them names.
 */
export function crossCheck(docs: Docs, known: Record<Kind, Set<string>>, ranges: PortRanges, owners?: Owners): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const issue = (doc: Document, pointer: string, message: string) => issues.push({ doc, pointer, message });
  const owned = (doc: Document, pointer: string, kind: Kind, name: string) => {
    const why = ownerProblem(doc, kind, name, owners);
    if (why) issue(doc, pointer, why);
  };

  // Duplicates: every copy is reported and none is used, so no copy silently wins.
  for (const kind of Object.keys(docs) as Kind[]) {
    const byName = new Map<string, Document[]>();
    for (const d of docs[kind] as Document[]) byName.set(d.metadata.name, [...(byName.get(d.metadata.name) ?? []), d]);
    for (const [name, copies] of byName) {
      if (copies.length < 2) continue;
      for (const d of copies) {
        const others = copies.filter((o) => o !== d).map(where).join(', ');
        issue(d, '/metadata/name', `duplicate ${kind} "${name}": also defined at ${others}`);
      }
    }
  }

  const overlays = new Map(docs.Overlay.map((o) => [o.metadata.name, o]));

  for (const bp of docs.Blueprint) {
    const spec = bp.spec;
    if (spec.installation !== undefined) {
      if (!known.Installation.has(spec.installation)) {
        issue(bp, '/spec/installation', `Installation "${spec.installation}" does not exist${suggest(spec.installation, known.Installation)}`);
      } else owned(bp, '/spec/installation', 'Installation', spec.installation);
    } else if (known.Installation.size === 1) {
      // The only installation is used without being named: the same rule holds for it.
      owned(bp, '/spec', 'Installation', [...known.Installation][0]!);
    } else {
      issue(
        bp,
        '/spec',
        known.Installation.size === 0
          ? 'no Installation is defined: add one (source: steam or directory)'
          : `spec.installation is required when several Installations exist (${[...known.Installation].sort().join(', ')})`,
      );
    }
    spec.overlays.forEach((name, i) => {
      if (!known.Overlay.has(name)) issue(bp, `/spec/overlays/${i}`, `Overlay "${name}" does not exist${suggest(name, known.Overlay)}`);
      else owned(bp, `/spec/overlays/${i}`, 'Overlay', name);
    });
    const stackAliases = new Set<string>();
    let stackComplete = true;
    for (const name of spec.overlays) {
      const o = overlays.get(name);
      if (!o) stackComplete = false;
      for (const alias of Object.keys(o?.spec.aliases ?? {})) stackAliases.add(alias);
    }
    (spec.exec ?? []).forEach((alias, i) => {
      // With a missing or broken overlay in the stack the alias may well be defined there: say nothing twice.
      if (stackComplete && !stackAliases.has(alias)) {
        issue(bp, `/spec/exec/${i}`, `alias "${alias}" is not defined by any overlay in this blueprint's stack${suggest(alias, stackAliases)}`);
      }
    });
    (spec.launchArgs ?? []).forEach((arg, i) => {
      if (RESERVED_LAUNCH_ARGS.includes(arg.toLowerCase())) {
        issue(bp, `/spec/launchArgs/${i}`, `"${arg}" is set by left4me (from map, tickrate, maxPlayers and the leased ports) or unsafe under systemd; remove it`);
      }
    });
    checkCvars(bp, spec.cvars, issue);
  }

  // Ports: explicit ports inside the ranges and unique per node. An instance
  // without a node runs on every host, so it clashes with all of them.
  type Claim = { doc: Document<'Instance'>; port: number; field: 'port' | 'clientPort' };
  const claims: Claim[] = [];
  for (const inst of docs.Instance) {
    const spec = inst.spec;
    if (!known.Blueprint.has(spec.blueprint)) {
      issue(inst, '/spec/blueprint', `Blueprint "${spec.blueprint}" does not exist${suggest(spec.blueprint, known.Blueprint)}`);
    } else owned(inst, '/spec/blueprint', 'Blueprint', spec.blueprint);
    checkCvars(inst, spec.cvars, issue);
    if (spec.port !== undefined) {
      const { min, max } = ranges.game;
      if (spec.port < min || spec.port > max) issue(inst, '/spec/port', `port ${spec.port} is outside the game port range ${min}-${max}`);
      else claims.push({ doc: inst, port: spec.port, field: 'port' });
    }
    if (spec.clientPort !== undefined) {
      const { min, max } = ranges.client;
      if (spec.clientPort < min || spec.clientPort > max) {
        issue(inst, '/spec/clientPort', `client port ${spec.clientPort} is outside the client port range ${min}-${max}`);
      } else claims.push({ doc: inst, port: spec.clientPort, field: 'clientPort' });
    }
  }
  const byPort = new Map<number, Claim[]>();
  for (const c of claims) byPort.set(c.port, [...(byPort.get(c.port) ?? []), c]);
  for (const [port, list] of byPort) {
    for (const c of list) {
      const clash = list.filter(
        (o) => o.doc !== c.doc && (o.doc.spec.node === undefined || c.doc.spec.node === undefined || o.doc.spec.node === c.doc.spec.node),
      );
      if (clash.length === 0) continue;
      const names = clash.map((o) => `instance/${o.doc.metadata.name} (${where(o.doc)})`).join(', ');
      issue(c.doc, `/spec/${c.field}`, `port ${port} is also claimed by ${names}${c.doc.spec.node ? ` on node ${c.doc.spec.node}` : ''}`);
    }
  }
  return issues;
}

function checkCvars(doc: Document, cvars: Record<string, unknown> | undefined, issue: (d: Document, p: string, m: string) => void) {
  for (const name of Object.keys(cvars ?? {})) {
    const key = name.toLowerCase();
    // Reserved names first: their own reason says where the value comes from instead.
    // hasOwn: cvar names such as "constructor" and "__proto__" are valid and must not find Object.prototype members.
    const why = (Object.hasOwn(RESERVED_CVARS, key) ? RESERVED_CVARS[key] : undefined) ?? consoleCommandProblem(name);
    if (why) issue(doc, `/spec/cvars/${name}`, `cvar "${name}" cannot be set here: ${why}`);
  }
}
