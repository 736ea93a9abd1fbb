import { defineConfig } from 'vitest/config';

// `npm run chaos`: the reliability suite's long runs, one private host at a time (they are slow on purpose).
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    globalSetup: ['test/support/prerequisites.setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
