import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDocumentName, jsonEntries } from './documents/names.js';
import { writeFileAtomic } from './fs/atomic.js';

/**
 * What a kept password may look like: what `get` generates, or longer. It is
 * rendered inside quotes in server.cfg, so nothing else is taken from the file.
 */
const PASSWORD = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * Keeps the entries that are an instance name with a well-formed password;
 * any other entry is dropped (a new password replaces a malformed one on
 * first use). A file that is not a JSON object is an error, not an empty
 * table: replacing every server's password silently would be worse. The
 * message names the file, never a password.
 */
function parsePasswords(file: string, text: string): Map<string, string> {
  let entries: [string, unknown][] | undefined;
  try {
    entries = jsonEntries(JSON.parse(text));
  } catch {
    entries = undefined;
  }
  if (!entries) throw new Error(`${file} is not a JSON object of instance names to RCON passwords; fix it or move it away (left4me then generates new passwords)`);
  return new Map(entries.filter((e): e is [string, string] => isDocumentName(e[0]) && typeof e[1] === 'string' && PASSWORD.test(e[1])));
}

/**
 * An instance's RCON password as the file says now (no cache: the
 * controller adds passwords while readers run), or undefined. For the web
 * service and `left4me rcon`; throws the read error (EACCES when the reader
 * is not in the file's group).
 */
export async function readRconPassword(dir: string, instance: string): Promise<string | undefined> {
  if (!isDocumentName(instance)) return undefined;
  const file = join(dir, 'rcon.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parsePasswords(file, text).get(instance);
}

/**
 * RCON passwords, generated once per instance and kept in a file only root
 * and the web service's group read (never in documents, which may live in
 * git). Owns `<dir>/rcon.json`: a JSON object from instance name to
 * password, held in a Map so that no name (such as `constructor`) can ever
 * find an Object.prototype member.
 */
export class RconSecrets {
  private loaded?: Promise<Map<string, string>>;
  private cache?: Map<string, string>;
  private writing: Promise<void> = Promise.resolve();
  /** The group that may read the file besides its owner (the web account's), once protect() found it. */
  private readerGid?: number;

  constructor(private readonly dir: string) {}

  private get file(): string {
    return join(this.dir, 'rcon.json');
  }

  private load(): Promise<Map<string, string>> {
    // One load shared by concurrent first callers: separate loads would each
    // start from an empty table and lose each other's new passwords.
    this.loaded ??= readFile(this.file, 'utf8').then(
      (text) => (this.cache = this.parse(text)),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') {
          this.loaded = undefined;
          throw err;
        }
        return (this.cache = new Map());
      },
    );
    return this.loaded;
  }

  private parse(text: string): Map<string, string> {
    try {
      return parsePasswords(this.file, text);
    } catch (err) {
      this.loaded = undefined;
      throw err;
    }
  }

  /**
   * Sets who may reach the passwords, on a fresh host and on one set up
   * before the web service existed: the directory 0710 and the file 0640,
   * owned by this process (root) and the reader group, so that group can
   * open rcon.json but not list the directory; both root-only (0700, 0600)
   * when the host has no such group. The file is changed before the
   * directory, through a descriptor opened without following links.
   */
  async protect(readerGid: number | undefined): Promise<void> {
    this.readerGid = readerGid;
    const uid = process.getuid?.() ?? 0;
    const gid = readerGid ?? process.getgid?.() ?? 0;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const st = await lstat(this.dir);
    if (!st.isDirectory()) throw new Error(`${this.dir} is not a directory; move it away and the controller recreates it`);
    try {
      const fh = await open(this.file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await fh.chown(uid, gid);
        await fh.chmod(readerGid !== undefined ? 0o640 : 0o600);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await lchown(this.dir, uid, gid);
    await chmod(this.dir, readerGid !== undefined ? 0o710 : 0o700);
  }

  /** The instance's password, created (24 URL-safe characters) on first use. */
  async get(instance: string): Promise<string> {
    if (!isDocumentName(instance)) throw new Error(`"${instance}" is not an instance name; no RCON password is kept for it`);
    const all = await this.load();
    const existing = all.get(instance);
    if (existing) return existing;
    const password = randomBytes(18).toString('base64url');
    all.set(instance, password);
    try {
      await this.save();
    } catch (err) {
      // Never hand out a password the file does not hold (a full disk): after a restart it would be a new one.
      if (all.get(instance) === password) all.delete(instance);
      throw err;
    }
    return password;
  }

  /** Reads a password without creating one. */
  async peek(instance: string): Promise<string | undefined> {
    if (!isDocumentName(instance)) return undefined;
    return (await this.load()).get(instance);
  }

  /** The instances a password is kept for (a trace of an instance, as a lease is). */
  async names(): Promise<string[]> {
    return [...(await this.load()).keys()];
  }

  /** Forgets an instance's password (it was deleted). */
  async remove(instance: string): Promise<void> {
    const all = await this.load();
    const password = all.get(instance);
    if (password === undefined) return;
    all.delete(instance);
    try {
      await this.save();
    } catch (err) {
      // Kept until the file forgets it too, so the next removal writes again.
      if (!all.has(instance)) all.set(instance, password);
      throw err;
    }
  }

  private async save(): Promise<void> {
    // Serialise writers so two concurrent first uses cannot lose one password.
    // Object.fromEntries defines own properties, so even a "__proto__" key would stay data.
    const snapshot = `${JSON.stringify(Object.fromEntries(this.cache ?? []), null, 2)}\n`;
    const gid = this.readerGid;
    const write = () => (gid !== undefined ? writeFileAtomic(this.file, snapshot, 0o640, { uid: process.getuid?.() ?? 0, gid }) : writeFileAtomic(this.file, snapshot, 0o600));
    // After a failed write (a full disk) the next one still runs: the chain must not stay rejected.
    this.writing = this.writing.catch(() => undefined).then(write);
    await this.writing;
  }
}
