import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './status/atomic.js';

/**
 * RCON passwords, generated once per instance and kept in a root-only file
 * (never in documents, which may live in git). Owns `<dir>/rcon.json`.
 */
export class RconSecrets {
  private loaded?: Promise<Record<string, string>>;
  private cache?: Record<string, string>;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  private get file(): string {
    return join(this.dir, 'rcon.json');
  }

  private load(): Promise<Record<string, string>> {
    // One load shared by concurrent first callers: separate loads would each
    // start from an empty table and lose each other's new passwords.
    this.loaded ??= readFile(this.file, 'utf8').then(
      (text) => (this.cache = JSON.parse(text) as Record<string, string>),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') {
          this.loaded = undefined;
          throw err;
        }
        return (this.cache = {});
      },
    );
    return this.loaded;
  }

  /** The instance's password, created (24 URL-safe characters) on first use. */
  async get(instance: string): Promise<string> {
    const all = await this.load();
    const existing = all[instance];
    if (existing) return existing;
    const password = randomBytes(18).toString('base64url');
    all[instance] = password;
    await this.save();
    return password;
  }

  /** Reads a password without creating one. */
  async peek(instance: string): Promise<string | undefined> {
    return (await this.load())[instance];
  }

  /** Forgets an instance's password (it was deleted). */
  async remove(instance: string): Promise<void> {
    const all = await this.load();
    if (!(instance in all)) return;
    delete all[instance];
    await this.save();
  }

  private async save(): Promise<void> {
    // Serialise writers so two concurrent first uses cannot lose one password.
    const snapshot = `${JSON.stringify(this.cache, null, 2)}\n`;
    this.writing = this.writing.then(() => writeFileAtomic(this.file, snapshot, 0o600));
    await this.writing;
  }
}
