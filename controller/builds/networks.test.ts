import { describe, expect, it } from 'vitest';
import { DENIED_NETWORKS, inNetwork, nonPublic, NON_PUBLIC_NETWORKS, parseNetwork, unmapped } from './networks.js';
import { DENIED_NETWORKS as SANDBOX_DENIED } from './sandbox.js';

const what = (address: string, allowed: string[] = []) => nonPublic(address, allowed.map(parseNetwork))?.what;

describe('non-public networks', () => {
  it('classifies every class of non-public address, and lets public ones through', () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1', /^loopback$/],
      ['127.255.255.254', /^loopback$/],
      ['::1', /^loopback$/],
      ['0.0.0.0', /this host/],
      ['0.1.2.3', /this host/],
      ['::', /this host/],
      ['10.1.2.3', /private/],
      ['172.16.0.1', /private/],
      ['172.31.255.255', /private/],
      ['192.168.1.1', /private/],
      ['100.64.0.1', /carrier-grade NAT/],
      ['169.254.169.254', /link-local.*metadata/],
      ['fe80::1', /link-local/],
      ['fd00::1', /unique local/],
      ['fc00::1', /unique local/],
      ['224.0.0.1', /multicast/],
      ['ff02::1', /multicast/],
      ['240.0.0.1', /reserved/],
      ['255.255.255.255', /reserved or broadcast/],
      ['192.0.2.1', /documentation/],
      ['2001:db8::1', /documentation/],
      ['198.18.0.1', /benchmarking/],
      // IPv4-mapped addresses are IPv4 on the wire.
      ['::ffff:127.0.0.1', /^loopback$/],
      ['::ffff:7f00:1', /^loopback$/],
      ['::ffff:a9fe:a9fe', /link-local/],
      // NAT64 carries the IPv4 address it embeds there.
      ['64:ff9b::7f00:1', /^loopback, through NAT64$/],
      ['64:ff9b::169.254.169.254', /link-local.*through NAT64/],
      ['64:ff9b::a00:1', /private network, through NAT64/],
      ['64:ff9b:1::1', /local-use NAT64/],
      ['::7f00:1', /IPv4-compatible/],
      ['2002:7f00:1::1', /6to4/],
      ['2001:0:4136:e378::1', /Teredo/],
    ];
    for (const [address, expected] of cases) expect([address, what(address)]).toEqual([address, expect.stringMatching(expected)]);
    for (const address of ['1.1.1.1', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
      expect([address, what(address)]).toEqual([address, undefined]);
    }
  });

  it('names the range an operator would allow, and allows exactly the allowed ranges', () => {
    expect(nonPublic('127.0.0.1', [])).toEqual({ address: '127.0.0.1', what: 'loopback', network: '127.0.0.0/8' });
    expect(nonPublic('::ffff:127.0.0.1', [])).toEqual({ address: '127.0.0.1', what: 'loopback', network: '127.0.0.0/8' });
    expect(nonPublic('64:ff9b::a9fe:a9fe', [])?.network).toBe('64:ff9b::a9fe:0/112');
    expect(what('127.0.0.1', ['127.0.0.1/32'])).toBeUndefined();
    expect(what('::ffff:127.0.0.1', ['127.0.0.0/8'])).toBeUndefined();
    expect(what('127.0.0.2', ['127.0.0.1/32'])).toBe('loopback');
    expect(what('127.0.0.1', ['10.0.0.0/8', '::1'])).toBe('loopback');
    expect(what('10.9.8.7', ['10.0.0.0/8'])).toBeUndefined();
    expect(what('11.0.0.1', ['10.0.0.0/8'])).toBeUndefined();
  });

  it('parses networks strictly and says what was meant', () => {
    expect(parseNetwork('10.0.0.0/8')).toMatchObject({ cidr: '10.0.0.0/8', prefix: 8 });
    expect(parseNetwork('::1').cidr).toBe('::1/128');
    expect(parseNetwork('FD00:0::/8').cidr).toBe('fd00::/8');
    expect(() => parseNetwork('10.0.0.1/8')).toThrow('"10.0.0.1/8" has bits set past its /8; did you mean 10.0.0.0/8?');
    expect(() => parseNetwork('10.0.0.0/33')).toThrow(/longer than 32 bits/);
    expect(() => parseNetwork('localhost')).toThrow(/is not an IP network; write it like 10\.0\.0\.0\/8/);
    expect(() => parseNetwork('10.0.0.0/')).toThrow(/no valid prefix length/);
    expect(inNetwork('fe80::abcd', parseNetwork('fe80::/10'))).toBe(true);
    expect(inNetwork('127.0.0.1', parseNetwork('::/0'))).toBe(false);
    expect(unmapped('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(unmapped('2001:DB8:0:0::1')).toBe('2001:db8::1');
  });

  it('is the one list: the build sandbox denies exactly these ranges', () => {
    expect(SANDBOX_DENIED).toBe(DENIED_NETWORKS);
    expect(DENIED_NETWORKS).toEqual(NON_PUBLIC_NETWORKS.map((n) => n.cidr));
    for (const cidr of DENIED_NETWORKS) expect(parseNetwork(cidr).cidr).toBe(cidr);
  });
});
