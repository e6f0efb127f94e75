import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { closeThreads, runThreads, warmThreads } from '../../src/testing/index.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { isSabreError } from '../../src/errors.js';
import type { BasicInput, BasicResult, BasicShared } from './programs/basic.js';

const program = new URL('./programs/basic.ts', import.meta.url);
const counts = (n: number): BasicShared => ({ counts: new Int32Array(new SharedArrayBuffer(4 * n)) });
const run = (threads: BasicInput[], extra: Partial<Parameters<typeof runThreads<BasicShared, BasicInput, BasicResult>>[0]> = {}) =>
  runThreads<BasicShared, BasicInput, BasicResult>({ threads, program, setup: () => counts(threads.length), seed: 1, ...extra });

afterAll(closeThreads);

describe('runThreads', () => {
  it('runs every thread and returns results, shared state and a time-ordered history', async () => {
    const { results, shared, history, threads } = await run(
      [
        { mode: 'record', n: 50 },
        { mode: 'record', n: 50 },
        { mode: 'record', n: 50 },
      ],
      { yields: { probability: 0.2, maxDelayMs: 0.05 } },
    );
    expect(shared.counts[0]).toBe(150);
    expect(new Set(results.map((r) => r!.threadId)).size).toBe(3);
    expect(history).toHaveLength(300);
    expect(history.map((e) => e.time)).toEqual([...history.map((e) => e.time)].sort((a, b) => a - b));
    // every invoke precedes its return, and each thread's ops are in program order
    for (let t = 0; t < 3; t++) {
      const mine = history.filter((e) => e.thread === t);
      mine.forEach((e, i) => expect([e.type, e.op]).toEqual([i % 2 === 0 ? 'invoke' : 'return', Math.floor(i / 2)]));
    }
    expect(threads.every((r) => r.steps === 50)).toBe(true);
  });

  it('a long history (a quarter of a million events from one thread) comes back whole', async () => {
    // The parent once spread a thread's events into push(...): past ~120,000 it overflowed the stack.
    const { history } = await run([{ mode: 'record', n: 125_000 }]);
    expect(history).toHaveLength(250_000);
  });

  it("a process that never calls closeThreads still exits when its work is done (the workers are unref'd)", () => {
    // On Node 20 a 'message' listener added after unref() refs a worker again: such a process hung forever.
    const script = fileURLToPath(new URL('./programs/exits-without-close.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.signal, 'killed by the timeout: the process did not exit').toBeNull();
    expect([child.status, child.stdout.trim()]).toEqual([0, 'ran 1']);
  });

  it('starts the threads together: every thread arrives at the barrier before any starts, and they overlap', async () => {
    await closeThreads(); // the first run below pays cold starts, the case a barrier exists for
    let interleaved = 0;
    for (let i = 0; i < 10; i++) {
      const { threads, history } = await run(
        [
          { mode: 'record', n: 1000 },
          { mode: 'record', n: 1000 },
        ],
        { seed: i, yields: { probability: 0.2, maxDelayMs: 0.1 } },
      );
      expect(Math.max(...threads.map((t) => t.arrivedAt))).toBeLessThan(Math.min(...threads.map((t) => t.startedAt)));
      const firstOf1 = history.findIndex((e) => e.thread === 1);
      const lastOf0 = history.findLastIndex((e) => e.thread === 0);
      if (firstOf1 < lastOf0 && history.findIndex((e) => e.thread === 0) < history.findLastIndex((e) => e.thread === 1)) interleaved++;
    }
    // Two threads of 2,000 events each, both sleeping at random (about 20 ms a run, longer than a
    // scheduler's slice on a loaded machine): sequential runs would need one thread to finish before
    // the other was even scheduled. Sequential runs happen on a loaded machine, but not 9 in 10.
    expect(interleaved).toBeGreaterThanOrEqual(2);
  });

  it('replays the same yield decisions from the same seed, and others from another seed', async () => {
    const inputs: BasicInput[] = [
      { mode: 'private', n: 300 },
      { mode: 'private', n: 300 },
    ];
    const yields = { probability: 0.3, maxSpins: 8 };
    const a = await run(inputs, { seed: 42, yields, trace: true });
    const b = await run(inputs, { seed: 42, yields, trace: true });
    const c = await run(inputs, { seed: 43, yields, trace: true });
    expect(a.threads[0]!.yieldSteps!.length).toBeGreaterThan(30);
    expect(b.threads.map((t) => t.yieldSteps)).toEqual(a.threads.map((t) => t.yieldSteps));
    expect(c.threads[0]!.yieldSteps).not.toEqual(a.threads[0]!.yieldSteps);
    expect(a.threads[1]!.yieldSteps).not.toEqual(a.threads[0]!.yieldSteps); // streams differ per thread
    expect(b.results.map((r) => r!.random)).toEqual(a.results.map((r) => r!.random));
  });

  it('times out a hung run, names the hung thread and its last step, and the pool survives', async () => {
    const error = await run(
      [
        { mode: 'add', n: 10 },
        { mode: 'hang', n: 0 },
        { mode: 'add', n: 10 },
      ],
      { timeoutMs: 500 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSabreError(error, 'ERR_TIMEOUT')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/thread 1 \(threadId \d+, last seen before seam step 1, a wait\) had not finished after 500 ms/);
    expect(message).not.toMatch(/thread [02] /);
    expect(message).toMatch(/deadlock/);
    expect(message).toMatch(/lost wake-up/);
    const hungId = Number(/threadId (\d+)/.exec(message)![1]);
    expect(ThreadRegistry.current.isAlive(hungId)).toBe(false);
    const after = await run([
      { mode: 'add', n: 5 },
      { mode: 'add', n: 5 },
      { mode: 'add', n: 5 },
    ]);
    expect([...after.shared.counts]).toEqual([5, 5, 5]);
    expect(after.results.map((r) => r!.threadId)).not.toContain(hungId);
  });

  it('kills a thread just before the given seam step and replaces its worker', async () => {
    await warmThreads(2);
    const { killed, results, shared, threads } = await run(
      [
        { mode: 'add', n: 100 },
        { mode: 'add', n: 100 },
      ],
      { kill: { thread: 0, atStep: 37 } },
    );
    expect(killed).toBe(0);
    expect(results[0]).toBeUndefined();
    expect(shared.counts[0]).toBe(36); // died before its 37th step
    expect(shared.counts[1]).toBe(100);
    const deadId = threads[0]!.threadId;
    expect(ThreadRegistry.current.isAlive(deadId)).toBe(false);
    const next = await run([
      { mode: 'add', n: 1 },
      { mode: 'add', n: 1 },
    ]);
    expect(next.results.map((r) => r!.threadId)).not.toContain(deadId);
    // a kill step the thread never reaches kills nobody
    const missed = await run(
      [
        { mode: 'add', n: 5 },
        { mode: 'add', n: 5 },
      ],
      { kill: { thread: 1, atStep: 6 } },
    );
    expect(missed.killed).toBeUndefined();
  });

  it('reports a thread that threw, by index, with the error as cause', async () => {
    const error = (await run([
      { mode: 'add', n: 1 },
      { mode: 'throw', n: 0 },
    ]).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/thread 1: thread 1 was told to throw/);
    expect((error.cause as Error).message).toBe('thread 1 was told to throw');
  });

  it('rejects a module that is not a program without stranding the other threads', async () => {
    const error = (await runThreads({
      threads: [1, 2],
      program: new URL('./programs/not-a-program.ts', import.meta.url),
      seed: 0,
      timeoutMs: 20_000,
    }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/must have a default export made by defineProgram/);
  });

  it('validates its options', async () => {
    await expect(run([])).rejects.toSatisfy((e) => isSabreError(e, 'ERR_INVALID_ARG'));
    await expect(run([{ mode: 'add', n: 1 }], { seed: 1.5 })).rejects.toThrow(/seed must be a safe integer, got 1.5/);
    await expect(run([{ mode: 'add', n: 1 }], { yields: { probability: 2 } })).rejects.toThrow(
      /probability must be a number in \[0, 1\], got 2/,
    );
    await expect(run([{ mode: 'add', n: 1 }], { kill: { thread: 3, atStep: 1 } })).rejects.toThrow(/kill.thread/);
    await expect(runThreads({ threads: [1], program: 'nope', seed: 0 })).rejects.toThrow(/program must be a module URL/);
    await expect(run([{ mode: 'add', n: 1 }], { yields: { probability: 0.5, maxSpins: 0 } })).rejects.toThrow(
      /yields\.maxSpins must be an integer in \[1, 1048576\], got 0/,
    );
    await expect(run([{ mode: 'add', n: 1 }], { kill: { thread: 0 } as never })).rejects.toThrow(
      /runThreads\(options\)\.kill: atStep is required/,
    );
    await expect(run([{ mode: 'add', n: 1 }], { trace: 'yes' as never })).rejects.toThrow(/trace must be true or false, got "yes"/);
    await expect(runThreads({ threads: [1], program: 'file:///p.ts', seed: 0, shared: 1, setup: () => 2 })).rejects.toThrow(
      /pass shared or setup, not both/,
    );
  });

  it('refuses a misspelled option, at the top and inside yields and kill, naming the option meant', async () => {
    const misspelled: [Record<string, unknown>, RegExp][] = [
      [{ timeout: 1000 }, /runThreads\(options\): unknown option "timeout"; did you mean "timeoutMs"\?/],
      [{ yeilds: { probability: 0.1 } }, /runThreads\(options\): unknown option "yeilds"; did you mean "yields"\?/],
      [
        { yields: { probability: 0.1, maxDelay: 1 } },
        /runThreads\(options\)\.yields: unknown option "maxDelay"; did you mean "maxDelayMs"\?/,
      ],
      [{ kill: { thread: 0, atstep: 1 } }, /runThreads\(options\)\.kill: unknown option "atstep"; did you mean "atStep"\?/],
    ];
    for (const [extra, message] of misspelled) {
      const e = await run([{ mode: 'add', n: 1 }], extra as never).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isSabreError(e, 'ERR_INVALID_ARG'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(message);
    }
  });
});
