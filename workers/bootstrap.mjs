/**
 * The one Piscina bootstrap of this repository's TypeScript tasks. Node 20
 * cannot load a `.ts` file in a worker thread, and Piscina's own path for a
 * `.ts` filename cannot use top-level await, so every pool's `filename` is
 * this plain module: it registers tsx, and each run names its task module
 * (`{ task, args }`, built by `tsTask` in `ts-task.ts`), loaded once per thread.
 */
import { register } from 'tsx/esm/api';

register();
const loaded = new Map();

export default async function run({ task, args }) {
  let fn = loaded.get(task);
  if (fn === undefined) {
    fn = (await import(task)).default;
    if (typeof fn !== 'function') throw new TypeError(`${task} has no default export to run`);
    loaded.set(task, fn);
  }
  return fn(args);
}
