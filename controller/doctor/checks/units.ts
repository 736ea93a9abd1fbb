/**
 * Checks of left4me's units as the running systemd sees them, through
 * `systemctl` (as root it talks to systemd over /run/systemd/private, so the
 * doctor still answers when the D-Bus system bus is what is broken), and of
 * failed game servers' journals for the marks of a sandbox kill.
 */
import { SERVER_LOG_NAMESPACE } from '../../systemd/units.js';
import { result, type CheckResult } from '../check.js';
import type { HostProbe, RunResult } from '../probe.js';
import { sandboxSignature } from '../signatures.js';

/** The first line of what a failed command said. */
const said = (r: RunResult) => (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? `exit ${r.code}`;

/** `systemctl show UNIT -p …` as a map (property → value), or the failed run. */
export async function unitProperties(probe: HostProbe, unit: string, properties: string[]): Promise<Map<string, string> | RunResult> {
  const r = await probe.run('systemctl', ['show', unit, '-p', properties.join(',')]);
  if (r.code !== 0) return r;
  return new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** How one left4me unit is deployed: its file, the command enabling it, whether it may be absent. */
export interface UnitSpec {
  id: string;
  unit: string;
  /** A host without it still runs servers (the web service): its absence is a warning. */
  optional: boolean;
  /** What it is for, for the detail text. */
  role: string;
}

export const CONTROLLER_UNIT: UnitSpec = { id: 'controller-unit', unit: 'left4me-controller.service', optional: false, role: 'the reconciler' };
export const WEB_UNIT: UnitSpec = { id: 'web-unit', unit: 'left4me-web.service', optional: true, role: 'the HTTP API and dashboard' };

/** A left4me unit loaded and active (enabled, so it comes back after a reboot). */
export async function checkUnit(probe: HostProbe, spec: UnitSpec): Promise<CheckResult> {
  const title = spec.unit;
  const props = await unitProperties(probe, spec.unit, ['LoadState', 'ActiveState', 'SubState', 'Result', 'UnitFileState']);
  if (!(props instanceof Map)) return result(spec.id, title, 'problem', `systemd cannot be asked: ${said(props)}`, 'run doctor as root on a host booted with systemd');
  const load = props.get('LoadState') ?? '?';
  const active = props.get('ActiveState') ?? '?';
  const sub = props.get('SubState') ?? '?';
  const enabled = props.get('UnitFileState') ?? '';
  const install = `cp deploy/${spec.unit} /etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now ${spec.unit}`;
  if (load === 'not-found') return result(spec.id, title, spec.optional ? 'warning' : 'problem', `not installed (${spec.role})`, install);
  if (load !== 'loaded') return result(spec.id, title, 'problem', `load state ${load}`, `systemd-analyze verify /etc/systemd/system/${spec.unit}; systemctl daemon-reload`);
  const state = `${active} (${sub}${props.get('Result') && props.get('Result') !== 'success' ? `, result ${props.get('Result')}` : ''}), ${enabled || 'unit file state unknown'}`;
  if (active === 'failed' || active === 'inactive') return result(spec.id, title, 'problem', state, `journalctl -u ${spec.unit} -n 50; systemctl enable --now ${spec.unit}`);
  if (active !== 'active') return result(spec.id, title, 'warning', state, `systemctl status ${spec.unit}`);
  if (enabled !== 'enabled' && enabled !== 'enabled-runtime' && enabled !== 'static') return result(spec.id, title, 'warning', `${state}: it will not start after a reboot`, `systemctl enable ${spec.unit}`);
  return result(spec.id, title, 'ok', state);
}

/** At most this many failed servers are read (each costs two journal reads). */
const MAX_FAILED = 10;
/** The hint this check gives, naming the controller option that selects the server sandbox profile. */
export const COMPAT_HINT =
  'under the strict profile (the default; a refused system call fails with EPERM) run the controller with --server-sandbox compat (in a drop-in on left4me-controller.service); ' +
  'a seccomp kill under compat is a system call outside even the previous deployment\'s filter: the kernel audit line\'s syscall= names it';

/**
 * Every failed (or crash-looping) game server's last 50 journal lines (systemd's own lines in
 * the system journal, the server's output in its namespace) and the kernel's
 * seccomp audit records of srcds, searched for a seccomp or W^X kill.
 */
export async function checkServerSandbox(probe: HostProbe): Promise<CheckResult> {
  const title = 'server sandbox';
  // auto-restart too: a server the sandbox kills at every start crash-loops (Restart=on-failure) before its start limit makes it failed.
  const list = await probe.run('systemctl', ['list-units', '--all', '--plain', '--no-legend', '--no-pager', '--state=failed,auto-restart', 'left4me-server@*.service']);
  if (list.code !== 0) return result('server-sandbox', title, 'problem', `systemd cannot be asked: ${said(list)}`, 'run doctor as root on a host booted with systemd');
  const failed = [...new Set(list.stdout.split('\n').flatMap((l) => /(left4me-server@[^\s]+\.service)/.exec(l)?.[1] ?? []))].sort();
  if (failed.length === 0) return result('server-sandbox', title, 'ok', 'no game server has failed');
  const kernel = await probe.run('journalctl', ['-k', '-n', '500', '--no-pager']);
  const audit = kernel.stdout.split('\n').filter((l) => /\btype=1326\b/.test(l) && /srcds/.test(l)).join('\n');
  const findings: string[] = [];
  let signed = false;
  for (const unit of failed.slice(0, MAX_FAILED)) {
    const system = await probe.run('journalctl', ['-u', unit, '-n', '50', '--no-pager']);
    const own = await probe.run('journalctl', [`--namespace=${SERVER_LOG_NAMESPACE}`, '-u', unit, '-n', '50', '--no-pager']);
    const sig = sandboxSignature(`${system.stdout}\n${own.stdout}`) ?? sandboxSignature(audit);
    const name = unit.slice('left4me-server@'.length, -'.service'.length);
    if (!sig) {
      findings.push(`${unit} failed with no sign of a sandbox kill in its last 50 journal lines (left4me logs instance ${name})`);
      continue;
    }
    signed = true;
    const what =
      sig.kind === 'seccomp' ? 'killed by the system call filter (seccomp)' : sig.kind === 'wx' ? 'refused a writable and executable mapping (W^X)' : 'refused a system call (EPERM, the strict filter\'s answer)';
    findings.push(`${unit} was ${what}: "${sig.line.slice(0, 200)}"`);
  }
  if (failed.length > MAX_FAILED) findings.push(`and ${failed.length - MAX_FAILED} more failed servers`);
  return result('server-sandbox', title, 'problem', findings.join('; '), signed ? COMPAT_HINT : `left4me logs instance NAME; journalctl -u left4me-server@NAME.service`);
}
