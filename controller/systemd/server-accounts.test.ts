import { describe, expect, it } from 'vitest';
import { DEFAULT_UID_RANGE } from '../status/uid-leases.js';
import { nssReadsUserdb, renderUserDropIn, renderUserRecord, uidOfRecordFile, uidRangeClashes, uidRangeProblem, userDropInPath } from './server-accounts.js';

const GAME_PORTS = { min: 27015, max: 27115 };

describe('the uid range', () => {
  it('accepts the default, which systemd leaves unused', () => {
    expect(uidRangeProblem(DEFAULT_UID_RANGE, GAME_PORTS)).toBeUndefined();
  });

  it("refuses systemd's reserved uids: 16-bit, nspawn containers, foreign images, 2^31 and above", () => {
    expect(uidRangeProblem({ min: 61000, max: 61999 })).toMatch(/overlaps the 16-bit uids .*DynamicUser=/);
    expect(uidRangeProblem({ min: 600000, max: 601000 })).toMatch(/systemd-nspawn's container uid ranges/);
    expect(uidRangeProblem({ min: 2147352576, max: 2147352600 })).toMatch(/foreign-image/);
    expect(uidRangeProblem({ min: 2147483000, max: 2147483648 })).toMatch(/2\^31/);
    expect(uidRangeProblem({ min: 200000, max: 100000 })).toMatch(/low first/);
  });

  it('must hold a uid for every game port', () => {
    expect(uidRangeProblem({ min: 1879048192, max: 1879048291 }, GAME_PORTS)).toBe('1879048192-1879048291 holds 100 uids, fewer than the 101 game ports; every server needs its own');
  });

  it("names whatever on the host already uses the range: accounts (the build account's too), subuids, login.defs", () => {
    const range = { min: 100000, max: 200000 };
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nleft4me-build:x:150000:150000::/var/lib/left4me:/usr/sbin/nologin\n';
    const loginDefs = '# comment\nUID_MIN\t1000\nUID_MAX\t60000\nSUB_UID_MIN\t\t   100000\nSUB_UID_MAX\t\t600100000\n';
    expect(uidRangeClashes(range, { passwd, loginDefs, subuid: 'alice:165536:65536\n' })).toEqual([
      'uid 150000 of account left4me-build (/etc/passwd)',
      'subordinate uids 165536-231071 of alice (/etc/subuid)',
      'SUB_UID_MIN-SUB_UID_MAX 100000-600100000, where /etc/login.defs allocates subordinate uids',
    ]);
    expect(uidRangeClashes(DEFAULT_UID_RANGE, { passwd, loginDefs, subuid: 'alice:165536:65536\n' })).toEqual([]);
  });
});

describe('the account of one server', () => {
  it("renders the unit drop-in that sets the instance's uid", () => {
    const d = renderUserDropIn('/etc/systemd/system', 'versus-1', 1879048192);
    expect(d.path).toBe('/etc/systemd/system/left4me-server@versus-1.service.d/10-user.conf');
    expect(d.path).toBe(userDropInPath('/etc/systemd/system', 'versus-1'));
    expect(d.text).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten

      [Service]
      # This instance alone runs as this uid: no other server and no build can signal it.
      User=1879048192
      "
    `);
    // With the template's stamp (what the controller writes), a new template is a new drop-in text.
    expect(renderUserDropIn('/etc/systemd/system', 'versus-1', 1879048192, 'compat sha256:0123456789abcdef').text).toMatchInlineSnapshot(`
      "# Managed by left4me — edits are overwritten

      # Runs under left4me-server@.service compat sha256:0123456789abcdef: a new template (another --server-sandbox,
      # a new left4me) changes this file, and the instance's update policy restarts it onto that template.

      [Service]
      # This instance alone runs as this uid: no other server and no build can signal it.
      User=1879048192
      "
    `);
    expect(() => renderUserDropIn('/etc/systemd/system', 'versus-1', 1879048192, 'compat\nUser=0')).toThrow(/not a template stamp/);
    expect(() => renderUserDropIn('/etc/systemd/system', '../x', 1879048192)).toThrow(/instance name/);
    expect(() => renderUserDropIn('/etc/systemd/system', 'a', 0)).toThrow(/not a server uid/);
  });

  it('renders a userdb record named after the uid, in the game group, without a login', () => {
    expect(JSON.parse(renderUserRecord(1879048192, 995, 'versus-1', '/var/lib/left4me/runtime/versus-1'))).toEqual({
      userName: 'left4me-1879048192',
      uid: 1879048192,
      gid: 995,
      realName: 'left4me game server versus-1',
      homeDirectory: '/var/lib/left4me/runtime/versus-1',
      shell: '/usr/sbin/nologin',
      disposition: 'system',
    });
  });

  it('recognises only its own record files', () => {
    expect(uidOfRecordFile('left4me-1879048192.user')).toBe(1879048192);
    expect(uidOfRecordFile('1879048192.user')).toBe(1879048192);
    expect(uidOfRecordFile('alice.user')).toBeUndefined();
    expect(uidOfRecordFile('left4me-build.user')).toBeUndefined();
    expect(uidOfRecordFile('left4me-1879048192.group')).toBeUndefined();
  });
});

describe('the host', () => {
  it("reads userdb records only when nss-systemd is on the passwd line", () => {
    expect(nssReadsUserdb('passwd:         files systemd\ngroup:          files systemd\n')).toBe(true);
    expect(nssReadsUserdb('passwd: files\ngroup: files systemd\n')).toBe(false);
    expect(nssReadsUserdb('# passwd: files systemd\npasswd: files # systemd\n')).toBe(false);
    expect(nssReadsUserdb('passwd: compat systemd sss\n')).toBe(true);
  });
});
