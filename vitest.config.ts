import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'props/**/*.prop.ts'],
    globalSetup: ['test/setup/redis.ts'],
    // forks: each test file runs on the main thread of a child process, so
    // threadId 0 is the test and every worker it starts is a real thread.
    pool: 'forks',
    // The tests use the current names only: a deprecated one (SABRE_DEP_…) throws, in the test
    // process and in every worker it starts (workers inherit execArgv). The tests of the
    // deprecated names themselves replace process.emitWarning, so they see the warning instead.
    execArgv: ['--throw-deprecation'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2 cores: real-thread tests and properties compete for them.
    maxWorkers: 2,
  },
});
