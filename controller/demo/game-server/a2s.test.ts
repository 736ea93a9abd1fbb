import { describe, expect, it } from 'vitest';
import { A2S, A2sResponder, MAX_PACKET, splitReply, type A2sState, type ServerInfo } from './a2s.js';

const INFO: ServerInfo = {
  protocol: 17,
  name: 'Demo',
  map: 'c1m1_hotel',
  folder: 'left4dead2',
  game: 'Left 4 Dead 2',
  appId: 550,
  players: 2,
  maxPlayers: 8,
  bots: 0,
  serverType: 'd',
  environment: 'l',
  visibility: 0,
  vac: 1,
  version: '2.2.4.3',
  port: 27015,
  steamId: 90000000000000001n,
  keywords: 'coop,demo',
  gameId: 550n,
};

function state(over: Partial<A2sState> = {}): A2sState {
  return {
    info: () => INFO,
    players: () => [{ name: 'Ellis', score: 3, durationSeconds: 12.5 }],
    rules: () => [['hostname', 'Demo']],
    ...over,
  };
}

function request(type: number, ...parts: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, type]), ...parts]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

const INFO_QUERY = Buffer.from('Source Engine Query\0', 'latin1');

// A minimal reader for the test's own assertions; the integration tests decode with gamedig.
class Reader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  byte(): number { return this.b.readUInt8(this.off++); }
  int32(): number { const v = this.b.readInt32LE(this.off); this.off += 4; return v; }
  uint16(): number { const v = this.b.readUInt16LE(this.off); this.off += 2; return v; }
  uint64(): bigint { const v = this.b.readBigUInt64LE(this.off); this.off += 8; return v; }
  float(): number { const v = this.b.readFloatLE(this.off); this.off += 4; return v; }
  string(): string { const end = this.b.indexOf(0, this.off); const s = this.b.toString('utf8', this.off, end); this.off = end + 1; return s; }
  get done(): boolean { return this.off === this.b.length; }
}

describe('A2sResponder', () => {
  it('answers A2S_INFO with a challenge first, then the info with every L4D2 field', () => {
    const r = new A2sResponder(state(), Buffer.from('fixed secret'));
    const [first, ...more] = r.respond(request(A2S.INFO, INFO_QUERY), '10.0.0.1');
    expect(more).toEqual([]);
    expect(first!.subarray(0, 5)).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x41]));
    const challenge = first!.readUInt32LE(5);
    expect(challenge).toBe(r.challengeFor('10.0.0.1'));

    const [reply] = r.respond(request(A2S.INFO, INFO_QUERY, u32(challenge)), '10.0.0.1');
    const rd = new Reader(reply!);
    expect(rd.int32()).toBe(-1);
    expect(rd.byte()).toBe(0x49);
    expect(rd.byte()).toBe(17);
    expect([rd.string(), rd.string(), rd.string(), rd.string()]).toEqual(['Demo', 'c1m1_hotel', 'left4dead2', 'Left 4 Dead 2']);
    expect(rd.uint16()).toBe(550);
    expect([rd.byte(), rd.byte(), rd.byte()]).toEqual([2, 8, 0]);
    expect(String.fromCharCode(rd.byte(), rd.byte())).toBe('dl');
    expect([rd.byte(), rd.byte()]).toEqual([0, 1]);
    expect(rd.string()).toBe('2.2.4.3');
    expect(rd.byte()).toBe(0xb1);
    expect(rd.uint16()).toBe(27015);
    expect(rd.uint64()).toBe(90000000000000001n);
    expect(rd.string()).toBe('coop,demo');
    expect(rd.uint64()).toBe(550n);
    expect(rd.done).toBe(true);
  });

  it('re-challenges a wrong challenge and one from another address', () => {
    const r = new A2sResponder(state());
    const mine = r.challengeFor('10.0.0.1');
    expect(r.respond(request(A2S.INFO, INFO_QUERY, u32(mine ^ 1)), '10.0.0.1')[0]![4]).toBe(0x41);
    expect(r.respond(request(A2S.INFO, INFO_QUERY, u32(mine)), '10.0.0.2')[0]![4]).toBe(0x41);
    expect(r.respond(request(A2S.PLAYER, u32(0xffffffff)), '10.0.0.1')[0]![4]).toBe(0x41);
    expect(r.respond(request(A2S.GETCHALLENGE), '10.0.0.1')[0]!.readUInt32LE(5)).toBe(mine);
  });

  it('answers A2S_PLAYER with index, name, score and duration', () => {
    const r = new A2sResponder(state());
    const [reply] = r.respond(request(A2S.PLAYER, u32(r.challengeFor('a'))), 'a');
    const rd = new Reader(reply!);
    expect([rd.int32(), rd.byte(), rd.byte()]).toEqual([-1, 0x44, 1]);
    expect([rd.byte(), rd.string(), rd.int32(), rd.float()]).toEqual([0, 'Ellis', 3, 12.5]);
    expect(rd.done).toBe(true);
  });

  it('ignores garbage, a bad info query, and everything while no map is loaded', () => {
    const r = new A2sResponder(state({ info: () => null }));
    expect(r.respond(Buffer.from('hello'), 'a')).toEqual([]);
    expect(r.respond(request(A2S.INFO, INFO_QUERY, u32(r.challengeFor('a'))), 'a')).toEqual([]);
    const live = new A2sResponder(state());
    expect(live.respond(request(A2S.INFO, Buffer.from('Other Query\0')), 'a')).toEqual([]);
  });

  it('splits a long A2S_RULES reply into Source split packets that reassemble to the reply', () => {
    const rules: Array<[string, string]> = [];
    for (let i = 0; i < 200; i++) rules.push([`demo_cvar_${i}`, `value number ${i}`]);
    const r = new A2sResponder(state({ rules: () => rules }));
    const packets = r.respond(request(A2S.RULES, u32(r.challengeFor('a'))), 'a');
    expect(packets.length).toBeGreaterThan(1);
    const ids = new Set<number>();
    const parts: Buffer[] = [];
    packets.forEach((p, n) => {
      expect(p.length).toBeLessThanOrEqual(MAX_PACKET);
      expect(p.readInt32LE(0)).toBe(-2);
      ids.add(p.readUInt32LE(4));
      expect(p[8]).toBe(packets.length);
      expect(p[9]).toBe(n);
      expect(p.readUInt16LE(10)).toBe(MAX_PACKET);
      parts.push(p.subarray(12));
    });
    expect(ids.size).toBe(1);
    expect([...ids][0]! & 0x80000000).toBe(0);
    const rd = new Reader(Buffer.concat(parts));
    expect([rd.int32(), rd.byte(), rd.uint16()]).toEqual([-1, 0x45, 200]);
    for (let i = 0; i < 200; i++) expect([rd.string(), rd.string()]).toEqual([`demo_cvar_${i}`, `value number ${i}`]);
    expect(rd.done).toBe(true);
  });
});

describe('splitReply', () => {
  it('leaves a reply that fits alone', () => {
    const small = Buffer.alloc(MAX_PACKET, 1);
    expect(splitReply(small, 7)).toEqual([small]);
    expect(splitReply(Buffer.alloc(MAX_PACKET + 1), 7)).toHaveLength(2);
  });
});
