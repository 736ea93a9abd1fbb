/**
 * Whether anything but left4me's own game servers listens in the port
 * ranges the controller leases from: read from /proc/net/{udp,tcp,udp6,tcp6},
 * each socket traced to its process through /proc/PID/fd, and a process
 * counted as left4me's when it runs in a left4me-server@ unit (its cgroup)
 * or as a uid of the server range.
 */
import { result, type CheckResult } from '../check.js';
import type { HostProbe } from '../probe.js';

/** Inclusive ranges. */
export interface Range {
  min: number;
  max: number;
}

/** One bound socket from /proc/net: TCP listeners and every bound UDP socket. */
export interface Listener {
  protocol: 'udp' | 'tcp' | 'udp6' | 'tcp6';
  port: number;
  uid: number;
  inode: number;
}

const TCP_LISTEN = '0A';

/** The listening sockets in one /proc/net table's text (TCP in LISTEN, UDP bound to a local port). */
export function parseProcNet(protocol: Listener['protocol'], text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const port = parseInt(f[1]!.split(':').at(-1) ?? '', 16);
    if (!Number.isInteger(port) || port === 0) continue;
    if (protocol.startsWith('tcp') && f[3] !== TCP_LISTEN) continue;
    out.push({ protocol, port, uid: Number(f[7]), inode: Number(f[9]) });
  }
  return out;
}

/** socket inode → pid, for the inodes asked for; reads /proc/PID/fd of every process (as root: all of them). */
async function socketOwners(probe: HostProbe, inodes: Set<number>): Promise<Map<number, number>> {
  const owners = new Map<number, number>();
  if (inodes.size === 0) return owners;
  for (const pid of (await probe.list('/proc')).filter((n) => /^\d+$/.test(n))) {
    for (const fd of await probe.list(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec((await probe.readlink(`/proc/${pid}/fd/${fd}`)) ?? '');
      if (m && inodes.has(Number(m[1]))) owners.set(Number(m[1]), Number(pid));
    }
    if (owners.size === inodes.size) break;
  }
  return owners;
}

/** Ranges, the server uid range and where the controller keeps its port leases. */
export interface PortCheckOptions {
  game: Range;
  client: Range;
  uidRange: Range;
  /** The controller's leases.json (host path); its ports are named with their instance. */
  leasesFile: string;
}

/** Listeners in the game and client ranges that are not left4me's servers: a leased port held by another is a problem, any other a warning. */
export async function checkPorts(probe: HostProbe, opts: PortCheckOptions): Promise<CheckResult> {
  const { game, client } = opts;
  const title = 'ports';
  const ranges = `${game.min}-${game.max} (game), ${client.min}-${client.max} (client)`;
  const inRange = (p: number) => (p >= game.min && p <= game.max) || (p >= client.min && p <= client.max);
  const listeners: Listener[] = [];
  for (const protocol of ['udp', 'tcp', 'udp6', 'tcp6'] as const) listeners.push(...parseProcNet(protocol, (await probe.read(`/proc/net/${protocol}`)) ?? '').filter((l) => inRange(l.port)));
  const owners = await socketOwners(probe, new Set(listeners.map((l) => l.inode)));
  const leased = new Map<number, string>();
  try {
    const data = JSON.parse((await probe.read(opts.leasesFile)) ?? '{}') as { leases?: Record<string, { port?: unknown; clientPort?: unknown }> };
    for (const [name, l] of Object.entries(data.leases ?? {})) for (const p of [l.port, l.clientPort]) if (typeof p === 'number') leased.set(p, name);
  } catch {
    // an unreadable lease file names no instance; the listeners are still reported
  }
  let ours = 0;
  const foreign: string[] = [];
  let onLeased = false;
  const seen = new Set<string>();
  for (const l of listeners) {
    const pid = owners.get(l.inode);
    const cgroup = pid === undefined ? '' : ((await probe.read(`/proc/${pid}/cgroup`)) ?? '');
    if (/\/left4me-server@[^/\n]+\.service/.test(cgroup) || (l.uid >= opts.uidRange.min && l.uid <= opts.uidRange.max)) {
      ours++;
      continue;
    }
    const comm = pid === undefined ? undefined : (await probe.read(`/proc/${pid}/comm`))?.trim();
    const who = pid === undefined ? `uid ${l.uid}` : `${comm ?? '?'} (pid ${pid}, uid ${l.uid})`;
    const instance = leased.get(l.port);
    if (instance) onLeased = true;
    const text = `${l.protocol} ${l.port} held by ${who}${instance ? `, but leased to instance/${instance}` : ''}`;
    if (!seen.has(text)) foreign.push(text);
    seen.add(text);
  }
  if (foreign.length > 0) {
    return result(
      'ports',
      title,
      onLeased ? 'problem' : 'warning',
      `${ranges}: ${foreign.slice(0, 8).join('; ')}${foreign.length > 8 ? `; and ${foreign.length - 8} more` : ''}${onLeased ? '' : ' (the controller leases around them, so the range is smaller)'}`,
      'stop what holds them, or give the controller ranges of their own (--port-range, --client-port-range)',
    );
  }
  return result('ports', title, 'ok', `${ranges}: ${ours > 0 ? `only left4me's game servers (${ours} sockets)` : 'nothing listens there'}`);
}
