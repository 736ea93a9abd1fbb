/**
 * Webhook secrets: one file per git source, `<webhookSecretsDir>/NAME`, that
 * a forge (GitHub, Gitea, GitLab) signs its calls with and the web service
 * checks them against. The controller makes a missing one at start (32 random
 * bytes, hex); an operator reads it as root to paste it into the forge, or
 * writes their own first. A secret that exists is never replaced, printed or
 * logged: only its owner and mode are set, so that root writes and the web
 * service's group reads (directory 0710, file 0640, root:<web group>), or
 * root alone (0700, 0600) on a host without that group.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostLayout } from '../host/layout.js';
import { SOURCE_NAME } from './types.js';

/** What ensureWebhookSecrets did. */
export interface WebhookSecretsOutcome {
  /** Sources whose secret was made now (the operator has to give it to the forge). */
  created: string[];
}

/**
 * Makes sure every named source has a webhook secret. A missing file is
 * created (never over one that appears meanwhile: the new file is linked into
 * place, which fails on an existing name); an existing one keeps its content
 * and gets the owner and mode above, through a descriptor opened without
 * following links. Anything at a secret's name that is not a regular file
 * (a link, a directory) is an error naming the path: it is not the
 * controller's to remove from the secrets directory.
 */
export async function ensureWebhookSecrets(layout: HostLayout, names: readonly string[], webGroupGid?: number): Promise<WebhookSecretsOutcome> {
  for (const name of names) if (!SOURCE_NAME.test(name)) throw new Error(`"${name}" is not a source name; no webhook secret is kept for it`);
  const dir = layout.webhookSecretsDir;
  const uid = process.getuid?.() ?? 0;
  const gid = webGroupGid ?? process.getgid?.() ?? 0;
  // The parent (the secrets directory, 0710 root:<web group>) is set up with the RCON passwords it also holds.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; move it away and the controller recreates it`);
  await lchown(dir, uid, gid);
  await chmod(dir, webGroupGid !== undefined ? 0o710 : 0o700);
  const mode = webGroupGid !== undefined ? 0o640 : 0o600;
  const created: string[] = [];
  for (const name of names) {
    const file = join(dir, name);
    if (await protectExisting(file, uid, gid, mode)) continue;
    if (await createSecret(dir, file, uid, gid, mode)) created.push(name);
    else await protectExisting(file, uid, gid, mode);
  }
  return { created };
}

/** Sets owner and mode of an existing secret; false when there is none. */
async function protectExisting(file: string, uid: number, gid: number, mode: number): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ELOOP') throw new Error(`${file} is a symbolic link, not a webhook secret; replace it with a file (or remove it and the controller makes one)`);
    throw err;
  }
  try {
    if (!(await fh.stat()).isFile()) throw new Error(`${file} is not a regular file; replace it with a file holding the webhook secret (or remove it and the controller makes one)`);
    await fh.chown(uid, gid);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
  return true;
}

/** Writes a new secret beside its name and links it into place; false when the name was taken meanwhile. */
async function createSecret(dir: string, file: string, uid: number, gid: number, mode: number): Promise<boolean> {
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await fh.writeFile(`${randomBytes(32).toString('hex')}\n`);
      await fh.chown(uid, gid);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
