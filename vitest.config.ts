import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['controller/**/*.test.ts', 'test/**/*.test.ts'],
    // The doctor's prerequisite subset first: a machine without systemd, dbus, util-linux, 7z, git or chromium stops with the packages to install.
    globalSetup: ['test/support/prerequisites.setup.ts', 'test/support/release.setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites boot private systemd hosts; keep them from competing for 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
