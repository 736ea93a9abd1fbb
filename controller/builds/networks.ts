// The one list of addresses that are not the public internet, for the whole
// product: the build sandbox denies them with IPAddressDeny=, and the
// controller's own downloads refuse to connect to them (egress.ts). Pure:
// address arithmetic only, no I/O.
import { isIP } from 'node:net';

/** One range that is not the public internet, and what it is (shown in refusals). */
export interface NonPublicNetwork {
  cidr: string;
  what: string;
}

// The IPv4 ranges IANA marks as not globally reachable, or that end on this host.
const IPV4: readonly NonPublicNetwork[] = [
  { cidr: '0.0.0.0/8', what: 'unspecified, which reaches this host' },
  { cidr: '10.0.0.0/8', what: 'private network' },
  { cidr: '100.64.0.0/10', what: 'carrier-grade NAT' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local, where cloud metadata services answer' },
  { cidr: '172.16.0.0/12', what: 'private network' },
  { cidr: '192.0.0.0/24', what: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', what: 'documentation' },
  { cidr: '192.168.0.0/16', what: 'private network' },
  { cidr: '198.18.0.0/15', what: 'benchmarking' },
  { cidr: '198.51.100.0/24', what: 'documentation' },
  { cidr: '203.0.113.0/24', what: 'documentation' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved or broadcast' },
];

// IPv4-mapped addresses (::ffff:a.b.c.d) are not listed: they are IPv4 on the
// wire, so checks unmap them first and the kernel's filters see IPv4 packets.
const IPV6: readonly NonPublicNetwork[] = [
  { cidr: '::/128', what: 'unspecified, which reaches this host' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: '::/96', what: 'IPv4-compatible (deprecated)' },
  { cidr: '64:ff9b:1::/48', what: 'local-use NAT64' },
  { cidr: '100::/64', what: 'discard-only' },
  { cidr: '2001::/23', what: 'IETF protocol assignments (Teredo and others)' },
  { cidr: '2001:db8::/32', what: 'documentation' },
  { cidr: '2002::/16', what: '6to4 (deprecated; tunnels to IPv4 addresses)' },
  { cidr: '3fff::/20', what: 'documentation' },
  { cidr: 'fc00::/7', what: 'unique local (private network)' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'fec0::/10', what: 'site-local (deprecated)' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

// The well-known NAT64 prefix carries public IPv4 addresses on IPv6-only hosts
// (DNS64), so it stays usable; what it embeds is denied like the IPv4 itself.
const NAT64: readonly NonPublicNetwork[] = IPV4.map(({ cidr, what }) => {
  const [v4 = '', prefix = ''] = cidr.split('/');
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return { cidr: parseNetwork(`64:ff9b::${hex((a << 8) | b)}:${hex((c << 8) | d)}/${96 + Number(prefix)}`).cidr, what: `${what}, through NAT64` };
});

/** Every range a build or a download may never reach unless the operator allows it. */
export const NON_PUBLIC_NETWORKS: readonly NonPublicNetwork[] = [...IPV4, ...IPV6, ...NAT64];

/** The CIDRs of NON_PUBLIC_NETWORKS: the build sandbox's IPAddressDeny= list. */
export const DENIED_NETWORKS: readonly string[] = NON_PUBLIC_NETWORKS.map((n) => n.cidr);

/** A parsed CIDR network. */
export interface Network {
  /** Canonical text, e.g. `127.0.0.0/8` or `::1/128`. */
  cidr: string;
  bytes: Uint8Array;
  prefix: number;
}

/** A network text that cannot be parsed; the message says what is wrong with it. */
export class NetworkSyntaxError extends Error {
  override name = 'NetworkSyntaxError';
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (one host); refuses host bits set below the prefix, naming the network meant. */
export function parseNetwork(text: string): Network {
  const [addr = '', prefixText, extra] = text.split('/');
  const version = isIP(addr);
  if (version === 0 || extra !== undefined) throw new NetworkSyntaxError(`${JSON.stringify(text)} is not an IP network; write it like 10.0.0.0/8 or fd00::/8`);
  const bits = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText)) throw new NetworkSyntaxError(`${JSON.stringify(text)} has no valid prefix length after "/"`);
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) throw new NetworkSyntaxError(`${JSON.stringify(text)} has a prefix longer than ${bits} bits`);
  const bytes = addressBytes(addr);
  const base = masked(bytes, prefix);
  const cidr = `${formatAddress(base)}/${prefix}`;
  if (!base.every((b, i) => b === bytes[i])) throw new NetworkSyntaxError(`${JSON.stringify(text)} has bits set past its /${prefix}; did you mean ${cidr}?`);
  return { cidr, bytes: base, prefix };
}

/** Whether `address` (an IP address, v4 or v6) lies in `net`. */
export function inNetwork(address: string, net: Network): boolean {
  const bytes = addressBytes(address);
  return bytes.length === net.bytes.length && masked(bytes, net.prefix).every((b, i) => b === net.bytes[i]);
}

/** Why an address is refused, and the network an operator would allow to let it through. */
export interface NonPublicVerdict {
  /** The address as checked (IPv4-mapped addresses unmapped). */
  address: string;
  what: string;
  network: string;
}

const PARSED = NON_PUBLIC_NETWORKS.map((n) => ({ ...n, net: parseNetwork(n.cidr) }));

/**
 * Decides one address: undefined when it is public or inside an `allowed`
 * network, else the most specific non-public range it lies in. IPv4-mapped
 * IPv6 addresses are judged as the IPv4 address they are on the wire.
 */
export function nonPublic(address: string, allowed: readonly Network[]): NonPublicVerdict | undefined {
  const ip = unmapped(address);
  if (allowed.some((net) => inNetwork(ip, net))) return undefined;
  let best: (typeof PARSED)[number] | undefined;
  for (const n of PARSED) if (inNetwork(ip, n.net) && (!best || n.net.prefix > best.net.prefix)) best = n;
  return best && { address: ip, what: best.what, network: best.cidr };
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; every other address unchanged (IPv6 in canonical form). */
export function unmapped(address: string): string {
  const bytes = addressBytes(address);
  if (bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join('.');
  return formatAddress(bytes);
}

/** The 4 or 16 bytes of an IP address; throws NetworkSyntaxError for anything else. */
export function addressBytes(address: string): Uint8Array {
  const version = isIP(address);
  if (version === 4) return Uint8Array.from(address.split('.').map(Number));
  if (version !== 6) throw new NetworkSyntaxError(`${JSON.stringify(address)} is not an IP address`);
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${hex((a << 8) | b)}:${hex((c << 8) | d)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  // The WHATWG URL serializer writes RFC 5952 canonical IPv6 text.
  const groups = Array.from({ length: 8 }, (_, i) => hex(((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0))).join(':');
  return new URL(`http://[${groups}]/`).hostname.slice(1, -1);
}

function hex(n: number): string {
  return n.toString(16);
}
