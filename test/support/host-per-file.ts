// One demo host for a whole test file: booted before its tests, stopped after them (vitest hooks, so this module
// is for test files only; benches boot their hosts themselves).
import { afterAll, beforeAll } from 'vitest';
import { bootDemoHost, type DemoHost } from './demo-host.js';

/** Registers the file's hooks; call the result inside a test for the host. */
export function demoHostPerFile(): () => DemoHost {
  let demo: DemoHost | undefined;
  beforeAll(async () => {
    demo = await bootDemoHost();
  });
  afterAll(async () => {
    await demo?.stop();
  });
  return () => {
    if (!demo) throw new Error('the demo host did not boot (see the beforeAll error)');
    return demo;
  };
}
