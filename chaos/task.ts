/**
 * The chaos suite's Piscina task (chaos/run.ts, `--piscina`): runs its
 * scenario's step for a while in a pool thread. A pool thread takes a slot
 * on its first task and keeps it. Told to die by `process.exit`, it exits
 * inside the task; told to die by an uncaught exception, it stops where it
 * is (perhaps holding a lock) and throws from a later macrotask, outside the
 * task, so the exception is uncaught and the pool replaces the thread.
 */
import { threadId } from 'node:worker_threads';
import { SCENARIOS, SLOTS, UNSAFE_TWINS } from './scenarios.js';
import { ChaosKill, EXIT, KILL, NEXT_SLOT, OPS, STOP, THROW, tidWord } from './control.js';

export interface ChaosTask {
  readonly name: string;
  readonly state: unknown;
  readonly control: SharedArrayBuffer;
  /** How long this task runs steps. */
  readonly ms: number;
}

let mine: { slot: number; opened: unknown; c: Int32Array } | undefined;

export default async function chaosTask({ name, state, control, ms }: ChaosTask): Promise<number> {
  const scenario = [...SCENARIOS, ...UNSAFE_TWINS].find((s) => s.name === name)!;
  if (mine === undefined) {
    const c = new Int32Array(control);
    const slot = Atomics.add(c, NEXT_SLOT, 1);
    Atomics.store(c, tidWord(SLOTS, slot), threadId + 1);
    mine = { slot, opened: scenario.open(state), c };
  }
  const { slot, opened, c } = mine;
  const die = (point: string): void => {
    const kill = Atomics.load(c, KILL + slot);
    if (kill === EXIT) process.exit(1);
    if (kill === THROW) throw new ChaosKill(`killed ${point}`);
  };
  const end = performance.now() + ms;
  let steps = 0;
  try {
    while (Atomics.load(c, STOP) === 0 && performance.now() < end) {
      scenario.step(opened, slot, die);
      Atomics.add(c, OPS, 1);
      steps++;
    }
  } catch (e) {
    if (!(e instanceof ChaosKill)) throw e;
    setImmediate(() => {
      throw e; // uncaught: the thread dies where the step stopped
    });
    await new Promise<never>(() => {});
  }
  return steps;
}
