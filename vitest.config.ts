import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'props/**/*.prop.ts'],
    // forks: each test file runs on the main thread of a child process, so
    // threadId 0 is the test and every worker it starts is a real thread.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: real-thread tests and properties compete for them.
    maxWorkers: 2,
  },
});
