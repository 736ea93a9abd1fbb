import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDocumentName, jsonEntries } from './documents/names.js';
import { writeFileAtomic } from './fs/atomic.js';

/**
 * What a kept password may look like: what `get` generates, or longer. It is
 * rendered inside quotes in server.cfg, so nothing else is taken from the file.
 */
const PASSWORD = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * RCON passwords, generated once per instance and kept in a root-only file
 * (never in documents, which may live in git). Owns `<dir>/rcon.json`: a JSON
 * object from instance name to password, held in a Map so that no name (such
 * as `constructor`) can ever find an Object.prototype member.
 */
export class RconSecrets {
  private loaded?: Promise<Map<string, string>>;
  private cache?: Map<string, string>;
  private writing: Promise<void> = Promise.resolve();

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

  /**
   * Keeps the entries that are an instance name with a well-formed password;
   * any other entry is dropped (a new password replaces a malformed one on
   * first use). A file that is not a JSON object is an error, not an empty
   * table: replacing every server's password silently would be worse.
   */
  private parse(text: string): Map<string, string> {
    let entries: [string, unknown][] | undefined;
    try {
      entries = jsonEntries(JSON.parse(text));
    } catch {
      entries = undefined;
    }
    if (!entries) {
      this.loaded = undefined;
      throw new Error(`${this.file} is not a JSON object of instance names to RCON passwords; fix it or move it away (left4me then generates new passwords)`);
    }
    return new Map(entries.filter((e): e is [string, string] => isDocumentName(e[0]) && typeof e[1] === 'string' && PASSWORD.test(e[1])));
  }

  /** The instance's password, created (24 URL-safe characters) on first use. */
  async get(instance: string): Promise<string> {
    if (!isDocumentName(instance)) throw new Error(`"${instance}" is not an instance name; no RCON password is kept for it`);
    const all = await this.load();
    const existing = all.get(instance);
    if (existing) return existing;
    const password = randomBytes(18).toString('base64url');
    all.set(instance, password);
    await this.save();
    return password;
  }

  /** Reads a password without creating one. */
  async peek(instance: string): Promise<string | undefined> {
    if (!isDocumentName(instance)) return undefined;
    return (await this.load()).get(instance);
  }

  /** Forgets an instance's password (it was deleted). */
  async remove(instance: string): Promise<void> {
    const all = await this.load();
    if (!all.delete(instance)) return;
    await this.save();
  }

  private async save(): Promise<void> {
    // Serialise writers so two concurrent first uses cannot lose one password.
    // Object.fromEntries defines own properties, so even a "__proto__" key would stay data.
    const snapshot = `${JSON.stringify(Object.fromEntries(this.cache ?? []), null, 2)}\n`;
    this.writing = this.writing.then(() => writeFileAtomic(this.file, snapshot, 0o600));
    await this.writing;
  }
}
