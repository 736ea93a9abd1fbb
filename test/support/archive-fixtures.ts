// Archives written byte by byte, for the archive step's tests: entries real
// tools refuse to create, and huge-but-tiny compressed trees.
import { crc32, gzipSync } from 'node:zlib';

/** One ustar header block; enough to write entries real tools refuse to create. */
export function tarHeader(name: string, type: string, opts: { link?: string; size?: number; mode?: number } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write(`${(opts.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${(opts.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(opts.link ?? '', 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A tar built by hand: `entries` of [name, type, link?]; type 0 entries get a few bytes of data. */
export function handTar(entries: [string, string, string?][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, type, link] of entries) {
    if (type === '0') {
      parts.push(tarHeader(name, type, { size: 3 }), Buffer.from('hi\n'.padEnd(512, '\0')));
    } else {
      parts.push(tarHeader(name, type, link === undefined ? {} : { link }));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A stored (uncompressed) zip built by hand, for names zip tools refuse to write. */
export function handZip(files: [string, string][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of files) {
    const data = Buffer.from(text);
    const nameBytes = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const MIB = 1 << 20;
let zeroMember: Buffer | undefined;

/**
 * A tar.gz of files full of zeros, each a whole number of MiB, made of
 * concatenated gzip members (gzip -d reads them as one stream): a GiB of
 * content in about a MiB of archive, built in milliseconds.
 */
export function zerosTarGz(files: { name: string; mib: number }[]): Buffer {
  zeroMember ??= gzipSync(Buffer.alloc(MIB));
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(gzipSync(tarHeader(f.name, '0', { size: f.mib * MIB })));
    for (let i = 0; i < f.mib; i++) parts.push(zeroMember);
  }
  parts.push(gzipSync(Buffer.alloc(1024)));
  return Buffer.concat(parts);
}
