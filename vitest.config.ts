import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['controller/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites boot private systemd hosts; keep them from competing for 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
