// The backup archive: what it writes reads back whole and is a tar the system
// tar lists; every hostile archive — crafted here header by header, or made
// by GNU tar itself — is refused with its entry named, before a caller could
// write anything (parseArchive returns nothing on refusal).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { END_BLOCKS, entryBlocks, MANIFEST_NAME, MAX_ENTRY_BYTES, parseArchive, readArchive, writeArchive, type ArchiveEntry, type ManifestEntry, type RawHeader } from './archive.js';

const scratch = mkdtempSync(join(tmpdir(), 'left4me-archive-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ENTRIES: ArchiveEntry[] = [
  { path: 'state', type: 'dir', mode: 0o755, owner: 'root', group: 'root' },
  { path: 'state/instances', type: 'dir', mode: 0o750, owner: 'root', group: 'root' },
  { path: 'state/instances/a.yaml', type: 'file', mode: 0o644, owner: 'root', group: 'root', data: Buffer.from('kind: Instance\n') },
  { path: 'data/secrets/rcon.json', type: 'file', mode: 0o640, owner: 'root', group: 'left4me-web', data: Buffer.from('{"a":"0123456789abcdef"}') },
  { path: 'web/users.json', type: 'file', mode: 0o600, owner: 'left4me-web', group: 'left4me-web', data: Buffer.alloc(0) },
  // Longer than ustar's 100-byte name field: split into prefix and name.
  { path: `state/${'d'.repeat(90)}/${'f'.repeat(60)}.yaml`, type: 'file', mode: 0o600, owner: 'root', group: 'root', data: Buffer.alloc(1500, 7) },
];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A manifest entry for a crafted file. */
function fileEntry(path: string, data: Buffer, extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, type: 'file', mode: 0o644, owner: 'root', group: 'root', size: data.length, sha256: sha(data), ...extra };
}

/** An archive from a manifest and raw records, in order; the manifest first unless `manifestAt` says otherwise. */
function craft(manifest: ManifestEntry[] | object, records: Array<[RawHeader, Buffer?]>, opts: { manifestAt?: number } = {}): Buffer {
  const doc = Array.isArray(manifest) ? { format: 'left4me-backup', version: 1, created: '2026-01-01T00:00:00Z', node: 'a', entries: manifest } : manifest;
  const m: [RawHeader, Buffer] = [{ name: MANIFEST_NAME, typeflag: '0', mode: 0o600 }, Buffer.from(JSON.stringify(doc))];
  const all = [...records];
  all.splice(opts.manifestAt ?? 0, 0, m);
  return Buffer.concat([...all.flatMap(([h, d]) => entryBlocks(h, d)), END_BLOCKS]);
}

const file = (name: string, data: Buffer, h: Partial<RawHeader> = {}): [RawHeader, Buffer] => [{ name, typeflag: '0', mode: 0o644, ...h }, data];
const A = Buffer.from('a: 1\n');

describe('the backup archive', () => {
  it('reads back what it wrote, mode and owner names included; the file is 0600 and a tar the system tar lists', async () => {
    const path = join(scratch, 'round.tar');
    const manifest = await writeArchive(path, { created: '2026-11-30T00:00:00.000Z', node: 'host-a' }, ENTRIES);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const back = await readArchive(path);
    expect(back.manifest).toEqual(manifest);
    expect(back.manifest.node).toBe('host-a');
    expect(back.entries).toEqual(ENTRIES);
    const listed = execFileSync('tar', ['-tvf', path], { encoding: 'utf8' });
    expect(listed).toContain(`-rw-r----- root/left4me-web`);
    expect(listed).toContain(ENTRIES[5]!.path);
    const names = execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual([MANIFEST_NAME, 'state/', 'state/instances/', 'state/instances/a.yaml', 'data/secrets/rcon.json', 'web/users.json', ENTRIES[5]!.path]);
    // And the system tar extracts the same bytes.
    const out = join(scratch, 'extracted');
    mkdirSync(out);
    execFileSync('tar', ['-xf', path, '-C', out]);
    expect(readFileSync(join(out, ENTRIES[5]!.path))).toEqual(ENTRIES[5]!.data);
  });

  it('writes atomically: a refused entry list leaves no file and no temp file behind', async () => {
    const dir = join(scratch, 'atomic');
    mkdirSync(dir);
    await expect(writeArchive(join(dir, 'x.tar'), { created: 'now', node: 'n' }, [...ENTRIES, ENTRIES[2]!])).rejects.toThrow(/named twice/);
    await expect(writeArchive(join(dir, 'x.tar'), { created: 'now', node: 'n' }, [{ path: '../x', type: 'dir', mode: 0o755, owner: 'root', group: 'root' }])).rejects.toThrow(/"\.\." component/);
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' })).toBe('');
  });

  it('accepts a well-formed crafted archive (so each refusal below is for its one flaw)', () => {
    const { entries } = parseArchive(craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)]));
    expect(entries.map((e) => e.path)).toEqual(['state/a.yaml']);
  });

  const refusals: Array<[string, () => Buffer, RegExp]> = [
    ['an absolute path', () => craft([fileEntry('state/a.yaml', A)], [file('/etc/passwd', A)]), /"\/etc\/passwd" has an absolute path/],
    ['a ".." component', () => craft([fileEntry('state/a.yaml', A)], [file('state/../../etc/cron.d/x', A)]), /has a "\.\." component/],
    ['a "." or empty component', () => craft([fileEntry('state/a.yaml', A)], [file('state//a.yaml', A)]), /empty or "\." component/],
    ['a control character in a name', () => craft([fileEntry('state/a.yaml', A)], [file('state/a\nb.yaml', A)]), /control characters/],
    ['a symbolic link', () => craft([fileEntry('state/a.yaml', A)], [[{ name: 'state/a.yaml', typeflag: '2', linkname: '/etc/shadow' }]]), /"state\/a\.yaml" is a symbolic link/],
    ['a hard link', () => craft([fileEntry('state/a.yaml', A)], [[{ name: 'state/a.yaml', typeflag: '1', linkname: 'state/b.yaml' }]]), /is a hard link/],
    ['a character device', () => craft([], [[{ name: 'state/tty', typeflag: '3' }]]), /is a character device/],
    ['a block device', () => craft([], [[{ name: 'state/sda', typeflag: '4' }]]), /is a block device/],
    ['a fifo', () => craft([], [[{ name: 'state/p', typeflag: '6' }]]), /is a fifo/],
    ['a pax header', () => craft([], [[{ name: 'PaxHeader/x', typeflag: 'x' }, Buffer.from('30 path=/etc/passwd\n')]]), /is a pax extended header/],
    ['an entry twice', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A), file('state/a.yaml', A)]), /"state\/a\.yaml" appears twice/],
    ['a second manifest', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A), file(MANIFEST_NAME, A)]), /appears twice/],
    ['a manifest naming a path twice', () => craft([fileEntry('state/a.yaml', A), fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)]), /names "state\/a\.yaml" twice/],
    ['an entry not in the manifest', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A), file('state/b.yaml', A)]), /"state\/b\.yaml" is in the archive but not in its manifest/],
    ['a manifest entry the archive lacks', () => craft([fileEntry('state/a.yaml', A), fileEntry('state/b.yaml', A)], [file('state/a.yaml', A)]), /names "state\/b\.yaml" but the archive does not hold it/],
    ['a sha256 mismatch', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', Buffer.from('a: 2\n'))]), /sha256 differs/],
    ['a size mismatch', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', Buffer.from('a: 22\n'))]), /6 bytes but the manifest says 5/],
    ['a type mismatch', () => craft([fileEntry('state/a.yaml', A)], [[{ name: 'state/a.yaml/', typeflag: '5', mode: 0o644 }]]), /is a directory but the manifest says file/],
    ['a mode that differs from the manifest', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A, { mode: 0o666 })]), /mode or owner differs/],
    ['a setuid mode', () => craft([fileEntry('state/a.yaml', A, { mode: 0o4755 })], [file('state/a.yaml', A, { mode: 0o4755 })]), /no setuid/],
    ['an owner that is no account name', () => craft([fileEntry('state/a.yaml', A, { owner: '0:0' })], [file('state/a.yaml', A, { uname: '0:0' })]), /owner and group must be account names/],
    ['an oversize entry', () => craft([], [[{ name: 'state/big', typeflag: '0', size: MAX_ENTRY_BYTES + 1 }]]), /more than the 16777216 an entry may be/],
    ['a truncated entry', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)]).subarray(0, 3 * 512 + 100), /cut short|truncated|has no end/],
    ['no end blocks', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)]).subarray(0, 4 * 512), /has no end/],
    ['data after the end', () => Buffer.concat([craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)]), Buffer.alloc(512, 1)]), /data follows the end/],
    ['a bad header checksum', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A, { badChecksum: true })]), /bad header checksum/],
    ['the manifest not first', () => craft([fileEntry('state/a.yaml', A)], [file('state/a.yaml', A)], { manifestAt: 1 }), /first entry is not the manifest/],
    ['a manifest of another version', () => craft({ format: 'left4me-backup', version: 2, created: 'x', node: 'n', entries: [] }, []), /format version 2/],
    ['a manifest that is not JSON', () => Buffer.concat([...entryBlocks({ name: MANIFEST_NAME, typeflag: '0' }, Buffer.from('{')), END_BLOCKS]), /is not JSON/],
    ['a manifest path with ".."', () => craft([fileEntry('../a.yaml', A)], []), /has a "\.\." component/],
    ['random bytes', () => Buffer.alloc(2048, 0x41), /bad header checksum|not an octal number/],
    ['an empty file', () => Buffer.alloc(0), /has no end/],
  ];
  for (const [what, make, message] of refusals) {
    it(`refuses ${what}`, () => {
      expect(() => parseArchive(make())).toThrow(message);
    });
  }

  it('refuses what GNU tar itself packs: a symbolic link, a hard link, a fifo, a ".." name, a long-name extension', async () => {
    const src = join(scratch, 'gnu-src');
    mkdirSync(join(src, 'state'), { recursive: true });
    writeFileSync(join(src, 'state', 'a.yaml'), A);
    symlinkSync('/etc/shadow', join(src, 'state', 'link.yaml'));
    linkSync(join(src, 'state', 'a.yaml'), join(src, 'state', 'b.yaml'));
    execFileSync('mkfifo', [join(src, 'state', 'pipe')]);
    const pack = (name: string, args: string[]) => {
      const out = join(scratch, name);
      execFileSync('tar', ['-cf', out, '-C', src, ...args]);
      return readArchive(out);
    };
    // The manifest comes first in each, so only the entry itself can be the reason.
    writeFileSync(join(src, MANIFEST_NAME), JSON.stringify({ format: 'left4me-backup', version: 1, created: 'x', node: 'n', entries: [fileEntry('state/a.yaml', A)] }));
    await expect(pack('sym.tar', ['--format=ustar', MANIFEST_NAME, 'state/link.yaml'])).rejects.toThrow(/"state\/link\.yaml" is a symbolic link/);
    await expect(pack('hard.tar', ['--format=ustar', MANIFEST_NAME, 'state/a.yaml', 'state/b.yaml'])).rejects.toThrow(/"state\/b\.yaml" is a hard link/);
    await expect(pack('fifo.tar', ['--format=ustar', MANIFEST_NAME, 'state/pipe'])).rejects.toThrow(/"state\/pipe" is a fifo/);
    await expect(pack('dotdot.tar', ['--format=ustar', '--transform=s,^state,state/../..,', MANIFEST_NAME, 'state/a.yaml'])).rejects.toThrow(/"\.\." component/);
    await expect(pack('long.tar', ['--format=gnu', MANIFEST_NAME, '--transform', `s,a.yaml,${'x'.repeat(120)}.yaml,`, 'state/a.yaml'])).rejects.toThrow(/GNU long name/);
  });

  it('refuses an archive file larger than the limit without reading it, and a link where the archive should be', async () => {
    const big = join(scratch, 'big.tar');
    writeFileSync(big, '');
    execFileSync('truncate', ['-s', String(300 * 2 ** 20), big]);
    await expect(readArchive(big)).rejects.toThrow(/more than the 268435456 a backup may be/);
    symlinkSync(big, join(scratch, 'link.tar'));
    await expect(readArchive(join(scratch, 'link.tar'))).rejects.toThrow(/ELOOP/);
  });
});
