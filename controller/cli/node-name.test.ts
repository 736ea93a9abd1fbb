import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { controllerConfig, defaultNodeName } from '../config.js';
import { withDefaultNode } from './node-name.js';

describe('the node a controller acts as without --node', () => {
  it('is the host name\'s first label in lower case, or none when that is no node name', () => {
    expect(defaultNodeName('eu-1')).toBe('eu-1');
    expect(defaultNodeName('EU-1.example.org\n')).toBe('eu-1');
    expect(defaultNodeName('game_host')).toBeUndefined();
    expect(defaultNodeName('-lead')).toBeUndefined();
    expect(defaultNodeName('')).toBeUndefined();
    expect(defaultNodeName('a'.repeat(64))).toBeUndefined();
  });

  it('comes from this machine, or from a private host\'s /etc/hostname below fsRoot; --node wins', async () => {
    expect((await withDefaultNode(controllerConfig())).node).toBe(defaultNodeName(hostname()));
    const root = mkdtempSync(join(tmpdir(), 'left4me-node-'));
    try {
      expect((await withDefaultNode(controllerConfig({ fsRoot: root }))).node).toBeUndefined();
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc', 'hostname'), 'Node-B.lan\n');
      expect((await withDefaultNode(controllerConfig({ fsRoot: root }))).node).toBe('node-b');
      expect((await withDefaultNode(controllerConfig({ fsRoot: root, node: 'a' }))).node).toBe('a');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
