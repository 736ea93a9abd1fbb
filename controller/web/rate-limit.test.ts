import { describe, expect, it } from 'vitest';
import { addressKey, FailureLimiter, loginLimiters } from './rate-limit.js';

describe('FailureLimiter', () => {
  it('limits one name tried from many addresses: the name is counted whoever tries it', () => {
    let now = 1_000_000;
    const limits = loginLimiters({ max: 10, windowMs: 15 * 60_000, maxKeys: 100 }, () => now);
    for (let i = 0; i < 10; i++) {
      const address = addressKey(`10.0.${i}.1`);
      expect(limits.byAddress.retryAfter(address) + limits.byName.retryAfter('alice')).toBe(0);
      limits.byAddress.fail(address);
      limits.byName.fail('alice');
    }
    // The eleventh address is fresh, the name is not.
    expect(limits.byAddress.retryAfter('10.0.10.1')).toBe(0);
    expect(limits.byName.retryAfter('alice')).toBe(15 * 60);
    expect(limits.byName.retryAfter('bob')).toBe(0);
    now += 10 * 60_000;
    expect(limits.byName.retryAfter('alice')).toBe(5 * 60);
    now += 5 * 60_000;
    expect(limits.byName.retryAfter('alice')).toBe(0);
    limits.byName.fail('alice');
    expect(limits.byName.retryAfter('alice')).toBe(0);
  });

  it('takes back a failure counted ahead, never below zero', () => {
    const l = new FailureLimiter({ max: 2, windowMs: 1000, maxKeys: 10 }, () => 0);
    l.fail('k');
    l.fail('k');
    expect(l.retryAfter('k')).toBe(1);
    l.forgive('k');
    expect(l.retryAfter('k')).toBe(0);
    l.forgive('k');
    l.forgive('k');
    l.fail('k');
    expect(l.retryAfter('k')).toBe(0);
    l.forgive('unknown');
    expect(l.size).toBe(1);
  });

  it('says at least one second while limited, never 0', () => {
    let now = 0;
    const l = new FailureLimiter({ max: 1, windowMs: 1500, maxKeys: 10 }, () => now);
    l.fail('k');
    now = 1400;
    expect(l.retryAfter('k')).toBe(1);
  });

  it('stays bounded when names or addresses are sprayed: expired windows go first, then the oldest', () => {
    let now = 0;
    const l = new FailureLimiter({ max: 3, windowMs: 1000, maxKeys: 100 }, () => now);
    for (let i = 0; i < 10_000; i++) l.fail(`name${i}`);
    expect(l.size).toBe(100);
    // The newest keys are the ones remembered.
    for (let i = 0; i < 2; i++) l.fail('name9999');
    expect(l.retryAfter('name9999')).toBe(1);
    expect(l.retryAfter('name0')).toBe(0);
    now = 2000;
    l.fail('late');
    expect(l.size).toBe(1);
  });
});

describe('addressKey', () => {
  it('keys IPv4 by address and IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});
