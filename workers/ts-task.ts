/**
 * Running TypeScript task modules in a Piscina pool: the pool's `filename` is
 * `BOOTSTRAP` (the one plain-JavaScript bootstrap, `bootstrap.mjs`), and each
 * run says which task it is for:
 *
 *   const counter = tsTask<CounterTask>(new URL('./tasks/counter.ts', import.meta.url));
 *   const pool = new Piscina({ filename: BOOTSTRAP, maxThreads: 2 });
 *   await pool.run(counter({ times: 1000 }));
 *
 * A built app needs none of this: it names its compiled `.js` task as the
 * `filename` (`piscinaTask` in `sabre/piscina`).
 */
export const BOOTSTRAP = new URL('./bootstrap.mjs', import.meta.url).href;

/** What a run posts to the bootstrap: the task module's URL and the task's own argument. */
export interface TsTaskRun<A> {
  readonly task: string;
  readonly args: A;
}

/** The runs of the task module at `task`: `pool.run(counter(args))`. */
export function tsTask<A>(task: URL): (args: A) => TsTaskRun<A> {
  const href = task.href;
  return (args) => ({ task: href, args });
}
