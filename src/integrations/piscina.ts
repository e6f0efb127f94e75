/**
 * Piscina integration (`sabre/piscina`): primitives in task arguments, and
 * task filenames that work from TypeScript sources and from the built package.
 * This module never imports `piscina` (an optional peer dependency of sabre):
 * it shapes what the app passes to its own pool. `watchPool` (from `sabre`)
 * records the deaths of a pool's threads.
 *
 * A task argument is cloned with `postMessage`, which keeps a
 * SharedArrayBuffer shared but turns a class instance into a plain object. So
 * primitives travel as their handles (`toTaskArgs`) and the task re-opens
 * them (`fromTaskArgs`), by kind, with the table of `kinds.ts`: register a
 * class with `registerKind` in the task's module too.
 *
 * @example
 * ```ts
 * // file: src/main.ts
 * import { piscinaTask, toTaskArgs } from 'sabre/piscina';
 * const mutex = new Mutex();
 * const pool = new Piscina({ filename: piscinaTask(import.meta.url, '../workers/add.task'), atomics: 'async' });
 * await pool.run(toTaskArgs({ mutex, times: 1000 }));
 * // file: workers/add.task.ts (and add.task.mjs, the bootstrap that registers tsx)
 * import { fromTaskArgs, type TaskArgs } from 'sabre/piscina';
 * type Live = { mutex: Mutex; times: number };
 * export default (args: TaskArgs<Live>) => {
 *   const { mutex, times } = fromTaskArgs<Live>(args);   // a live Mutex again
 *   for (let i = 0; i < times; i++) mutex.runExclusiveSync(() => criticalSection());
 * };
 * ```
 */
import { plainObject } from '../validate.js';
import { isTypeScript } from '../threads/spawn.js';
import { isSabrePrimitive, looksLikeHandle, reopen, type SabrePrimitive } from './kinds.js';

export { registerKind, type SabreClass, type SabrePrimitive } from './kinds.js';

/** `T` as it travels: every primitive replaced by its handle. */
export type TaskArgs<T> = { [K in keyof T]: T[K] extends SabrePrimitive ? T[K]['handle'] : T[K] };

/** Replaces each primitive among `live`'s own properties by its handle; other values pass as they are. */
export function toTaskArgs<T extends object>(live: T): TaskArgs<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plainObject('task arguments', live))) {
    out[key] = isSabrePrimitive(value) ? value.handle : value;
  }
  return out as TaskArgs<T>;
}

/**
 * Re-opens each handle among `args`' own properties as a live object of its
 * kind; other values pass as they are.
 * @throws HandleError for a forged handle or a kind not registered in this thread
 */
export function fromTaskArgs<T extends object>(args: TaskArgs<T>): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plainObject('task arguments', args))) {
    out[key] = looksLikeHandle(value) ? reopen(value) : value;
  }
  return out as T;
}

/**
 * The Piscina `filename` for the task module `name` (without extension)
 * relative to `base` (pass `import.meta.url`): the `.mjs` bootstrap next to
 * the `.ts` task when `base` is TypeScript (development, tests), the `.js`
 * file when `base` is built JavaScript.
 */
export function piscinaTask(base: string | URL, name: string): string {
  return new URL(`./${name}${isTypeScript(base) ? '.mjs' : '.js'}`, String(base)).href;
}
