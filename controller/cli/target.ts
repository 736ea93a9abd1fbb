import { readFileSync } from 'node:fs';
import { DEFAULT_DATA_DIR } from '../host/layout.js';
import { join } from 'node:path';
import { onHost } from '../config.js';
import { packageRoot } from '../package-root.js';
import { DEFAULT_STATE_DIR, UsageError } from './args.js';

/** What a running demo host publishes so that CLI verbs can target it with --demo. */
export interface DemoDescriptor {
  pid: number;
  /** The process running the demo's controller (SIGHUP: reconcile now). */
  controllerPid: number;
  fsRoot: string;
  busAddress: string;
  /** As this process reaches it (not under fsRoot). */
  stateDir: string;
  dataDir: string;
  unitDir: string;
  /** The demo controller's --installation-root directories. */
  installationRoots?: string[];
}

/** Where the demo host's descriptor lives (inside the checkout, ignored by git). */
export function demoDescriptorPath(): string {
  return join(packageRoot(), '.demo', 'host.json');
}

/** The host a CLI verb works on: its state and status directories as this process reaches them. */
export interface Target {
  /** State directory as this process reaches it. */
  stateDir: string;
  /** Status store directory as this process reaches it. */
  statusDir: string;
  demo?: DemoDescriptor;
}

/** Resolves --demo / --state / --data-dir into a target. */
export function resolveTarget(values: { state?: string; demo?: boolean; 'data-dir'?: string }): Target {
  if (values.demo) {
    let demo: DemoDescriptor;
    try {
      demo = JSON.parse(readFileSync(demoDescriptorPath(), 'utf8')) as DemoDescriptor;
      process.kill(demo.pid, 0);
    } catch {
      throw new UsageError('no demo host is running: start one with `npm start`');
    }
    return {
      stateDir: values.state ?? demo.stateDir,
      statusDir: onHost(demo, join(demo.dataDir, 'status')),
      demo,
    };
  }
  const dataDir = values['data-dir'] ?? DEFAULT_DATA_DIR;
  return { stateDir: values.state ?? DEFAULT_STATE_DIR, statusDir: join(dataDir, 'status') };
}
