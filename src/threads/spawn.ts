/**
 * Starting workers from TypeScript in development and from JavaScript in the
 * built package, with one call.
 *
 * Node 20 cannot start a `.ts` worker (ERR_UNKNOWN_FILE_EXTENSION, whatever
 * the `execArgv`), but an eval'd entry that registers tsx's loader and then
 * imports the `.ts` file works. tsx is resolved lazily, so `dist/` never needs it.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { watchWorker } from './watch.js';

/**
 * The URL of `name` next to `base`, with the extension `base` has: a `.ts`
 * module gets `name.ts`, a built `.js` module gets `name.js`.
 */
export function sibling(base: string | URL, name: string): URL {
  const href = String(base);
  return new URL(`./${name}${/\.[mc]?ts$/.test(new URL(href).pathname) ? '.ts' : '.js'}`, href);
}

/** True when `entry` is TypeScript source (so needs the tsx bootstrap). */
export function isTypeScript(entry: string | URL): boolean {
  return /\.[mc]?ts$/.test(new URL(String(entry)).pathname);
}

/**
 * Starts a worker from a `.ts` or `.js` module URL, already watched (its death
 * is recorded in the `ThreadRegistry`). `workerData` and every other option are
 * passed through untouched.
 */
export function spawnWorker(entry: string | URL, options: WorkerOptions = {}): Worker {
  const url = new URL(String(entry));
  if (!isTypeScript(url)) return watchWorker(new Worker(url, options));
  const tsx = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return watchWorker(new Worker(code, { ...options, eval: true }));
}
