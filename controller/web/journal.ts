/**
 * The game servers' journal, read the way an operator would: `journalctl
 * --namespace=left4me -u left4me-server@NAME.service -o json` as a child
 * process (an argv array, never a shell). The server units log into a
 * journal namespace of their own whose files the web service's group may
 * read (deploy/left4me.tmpfiles.conf), so the web service reads server logs
 * and nothing else of the journal.
 *
 * Lines are the servers' own output: untrusted text, handed on as data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Unit of one game server (the template in controller/systemd/units.ts). */
export const serverUnit = (instance: string): string => `left4me-server@${instance}.service`;

/** One journal entry of a server: when, what it said, and the cursor a follow resumes after. */
export interface JournalLine {
  time: string;
  message: string;
  cursor: string;
}

/** What to read: the last `tail` entries, or the entries after `afterCursor`; then, with `follow`, new ones as they come. */
export interface JournalQuery {
  namespace: string;
  unit: string;
  tail: number;
  afterCursor?: string;
  follow: boolean;
}

/** Longest message handed on; journald keeps up to 48 KiB per line, a console line is far shorter. */
const MAX_MESSAGE = 16 * 1024;

/** The journalctl arguments of a query (after the command itself). */
export function journalArgs(q: JournalQuery): string[] {
  const args = [`--namespace=${q.namespace}`, '-u', q.unit, '-o', 'json', '--no-pager', '--quiet'];
  // After a cursor: everything since (a resume); else the last `tail` entries.
  if (q.afterCursor !== undefined) args.push(`--after-cursor=${q.afterCursor}`);
  else args.push('-n', String(q.tail));
  if (q.follow) args.push('--follow');
  return args;
}

/** A cursor as journald writes them (`s=…;i=…;b=…;m=…;t=…;x=…`); anything else is not passed on. */
export function isCursor(s: string): boolean {
  return s.length <= 512 && /^[A-Za-z0-9=;_-]+$/.test(s);
}

/** One line of `journalctl -o json`; undefined for what is not an entry. MESSAGE may be a string, bytes (not UTF-8) or null. */
export function parseJournalLine(text: string): JournalLine | undefined {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!e || typeof e !== 'object' || typeof e.__CURSOR !== 'string') return undefined;
  const raw = e.MESSAGE;
  let message = '';
  if (typeof raw === 'string') message = raw;
  else if (Array.isArray(raw) && raw.every((b) => typeof b === 'number')) message = Buffer.from(raw as number[]).toString('utf8');
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
  const us = typeof e.__REALTIME_TIMESTAMP === 'string' ? Number(e.__REALTIME_TIMESTAMP) : NaN;
  const time = Number.isFinite(us) ? new Date(Math.floor(us / 1000)).toISOString() : '';
  return { time, message, cursor: e.__CURSOR };
}

/** A running journalctl: its lines arrive through `onLine`; `stop()` ends it (and anything it forked). */
export interface JournalReader {
  /** Resolves when journalctl exits: its exit code and the start of what it wrote to stderr. */
  done: Promise<{ code: number; stderr: string }>;
  stop(): void;
}

/**
 * Starts `command… journalArgs(q)`. The child leads its own process group so
 * that stop() also ends what a wrapper (nsenter, setpriv) forked.
 */
export function readJournal(command: readonly string[], q: JournalQuery, onLine: (l: JournalLine) => void): JournalReader {
  const [cmd, ...pre] = command;
  if (!cmd) throw new Error('no journalctl command configured');
  const child: ChildProcess = spawn(cmd, [...pre, ...journalArgs(q)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 2048) stderr += d.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  lines.on('line', (text) => {
    const l = parseJournalLine(text);
    if (l) onLine(l);
  });
  let exited = false;
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on('error', (err) => {
      exited = true;
      resolve({ code: 127, stderr: String(err.message) });
    });
    // 'close' comes after stdout is drained: every line was handed on before done resolves.
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code: code ?? (signal ? 128 : 1), stderr });
    });
  });
  return {
    done,
    stop() {
      if (exited || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
    },
  };
}
