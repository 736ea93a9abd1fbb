/**
 * `left4me doctor`: checks this host for what left4me and srcds need and
 * says, for each finding, what to do. The ranges and data directory are the
 * controller's: from the flags, else from the installed controller unit's
 * command line, else the defaults, so the doctor judges the host as the
 * running controller sees it.
 */
import type { CheckResult } from '../doctor/check.js';
import { unitProperties } from '../doctor/checks/units.js';
import { runDoctor } from '../doctor/doctor.js';
import { hostProbe, type HostProbe } from '../doctor/probe.js';
import { parse, UsageError } from './args.js';
import { hostConfig } from './host-options.js';
import type { Io } from './io.js';
import { printableJson } from './printable.js';
import { renderTable } from './table.js';

/** Controller flags the doctor takes over from the unit's ExecStart= when not given. */
const FROM_UNIT = ['data-dir', 'port-range', 'client-port-range', 'uid-range'] as const;
type FromUnit = Partial<Record<(typeof FROM_UNIT)[number], string>>;

/** The controller flags in a `systemctl show -p ExecStart` value (`{ path=… ; argv[]=left4me controller --port-range 28000-28099 … ; … }`). */
export function controllerFlags(execStart: string): FromUnit {
  const argv = /argv\[\]=([^;]*)/.exec(execStart)?.[1]?.trim().split(/\s+/) ?? [];
  const out: FromUnit = {};
  for (const [i, arg] of argv.entries()) {
    for (const flag of FROM_UNIT) {
      if (arg === `--${flag}` && argv[i + 1] !== undefined) out[flag] = argv[i + 1];
      else if (arg.startsWith(`--${flag}=`)) out[flag] = arg.slice(flag.length + 3);
    }
  }
  return out;
}

/** Parses `--uid-range 1879048192-1879113727`. */
function uidRange(text: string | undefined): { min: number; max: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  if (!m || Number(m[1]) > Number(m[2])) throw new UsageError('--uid-range must look like 1879048192-1879113727');
  return { min: Number(m[1]), max: Number(m[2]) };
}

const MARK = { ok: 'ok', warning: 'warning', problem: 'problem' } as const;

/** The human table: one row per check, its fix on the row below; then the counts. */
export function renderDoctor(results: CheckResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    rows.push([MARK[r.status], r.title, r.detail]);
    if (r.fix) rows.push(['', '', `fix: ${r.fix}`]);
  }
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  return `${renderTable(['STATUS', 'CHECK', 'DETAIL'], rows)}\n${count('ok')} ok, ${count('warning')} warnings, ${count('problem')} problems\n`;
}

/** `left4me doctor [-o table|json] [--data-dir DIR] [--port-range A-B] [--client-port-range A-B] [--uid-range A-B]`: exit 0 without problems, 1 with any. */
export async function doctorCommand(args: string[], io: Io, probe: HostProbe = hostProbe()): Promise<number> {
  const { values, positionals } = parse(args, {
    output: { type: 'string', short: 'o', default: 'table' },
    'port-range': { type: 'string' },
    'client-port-range': { type: 'string' },
    'uid-range': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('doctor takes no arguments');
  if (values.demo) throw new UsageError('doctor checks the host it runs on; for the demo host run it inside: nsenter --target PID --mount --pid npx left4me doctor');
  const output = values.output as string;
  if (output !== 'table' && output !== 'json') throw new UsageError(`unknown output format "${output}" (table or json)`);
  const unit = await unitProperties(probe, 'left4me-controller.service', ['ExecStart']);
  const fromUnit = unit instanceof Map ? controllerFlags(unit.get('ExecStart') ?? '') : {};
  const given: FromUnit = Object.fromEntries(FROM_UNIT.flatMap((f) => (values[f] !== undefined ? [[f, values[f] as string]] : [])));
  const flags = { ...fromUnit, ...given };
  const cfg = hostConfig({ state: values.state, 'data-dir': flags['data-dir'], 'port-range': flags['port-range'], 'client-port-range': flags['client-port-range'] });
  const results = await runDoctor(probe, { layout: cfg.units.layout, portRanges: cfg.portRanges, uidRange: uidRange(flags['uid-range']) ?? cfg.uidRange });
  if (output === 'json') {
    const summary = { ok: 0, warning: 0, problem: 0 };
    for (const r of results) summary[r.status]++;
    io.out(`${printableJson({ checks: results, summary, controllerFlags: flags })}\n`);
  } else {
    io.out(renderDoctor(results));
  }
  return results.some((r) => r.status === 'problem') ? 1 : 0;
}
