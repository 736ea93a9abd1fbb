// The node a controller-side verb acts as when neither --node nor the
// configuration file names one: the host's name (issue: "each host's
// controller is started with its node name (default: the host name)").
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultNodeName, type ControllerConfig } from '../config.js';

/** The configuration with its node defaulted to the host name: this machine's, or a private host's `/etc/hostname` below fsRoot. */
export async function withDefaultNode(cfg: ControllerConfig): Promise<ControllerConfig> {
  if (cfg.node !== undefined) return cfg;
  const name = cfg.fsRoot === '/' ? hostname() : await readFile(join(cfg.fsRoot, 'etc', 'hostname'), 'utf8').catch(() => '');
  const node = defaultNodeName(name);
  return node === undefined ? cfg : { ...cfg, node };
}
