/**
 * A chaos-suite worker: repeats its scenario's step until told to stop,
 * dying where and how the controller's KILL word says (chaos/run.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SCENARIOS, UNSAFE_TWINS } from './scenarios.js';
import { ChaosKill, EXIT, KILL, OPS, STOP, THROW } from './control.js';

interface ChaosWorkerData {
  readonly name: string;
  readonly state: unknown;
  readonly control: SharedArrayBuffer;
  readonly slot: number;
}

const { name, state, control, slot } = workerData as ChaosWorkerData;
const c = new Int32Array(control);
const scenario = [...SCENARIOS, ...UNSAFE_TWINS].find((s) => s.name === name)!;
const opened: unknown = scenario.open(state);
const die = (point: string): void => {
  const kill = Atomics.load(c, KILL + slot);
  if (kill === EXIT) process.exit(1);
  if (kill === THROW) throw new ChaosKill(`killed ${point}`);
};
parentPort!.postMessage('ready');
while (Atomics.load(c, STOP) === 0) {
  scenario.step(opened, slot, die);
  Atomics.add(c, OPS, 1);
}
parentPort!.postMessage('stopped');
