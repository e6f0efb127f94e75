/**
 * Test fixture, run as a child process's main module: threads are started
 * *before* sabre is loaded (so none inherits a thread registry, and no
 * 'exit' of theirs is watched), then a thread that holds a Mutex dies, and
 * the others must still learn it. Prints one JSON line per observer:
 * `{ who, outcome, ms }`, where `outcome` is the error code or 'ok'.
 *
 *   worker-first   two plain workers start; main loads sabre, creates the
 *                  Mutex; worker A locks it and calls process.exit; main
 *                  (lockAsync) and worker B (a blocking lock) observe
 *   pool-first     a Piscina pool starts first; a task locks and exits its
 *                  thread (Piscina recycles it); main observes, then a task
 *                  on the replacement thread locks and unlocks
 *   nested         a worker starts a worker of its own before either loads
 *                  sabre; the inner one creates the Mutex, locks it, and its
 *                  handle travels up to main, which observes as the inner one exits
 *   blind          this thread pretends to have no /proc: the first liveness
 *                  question sabre cannot answer prints one SabreWarning
 *
 * The same file is the workers' module (`role` in workerData).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

type Sabre = typeof import('../src/index.js');
interface Report {
  who: string;
  outcome: string;
  ms?: number;
}

const here = new URL(import.meta.url).href;
const bootstrap = (role: string): Worker =>
  new Worker(
    `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(here)}); })` +
      `.catch((e) => { process.nextTick(() => { throw e; }); });`,
    { eval: true, workerData: { role } },
  );

const loadSabre = (): Promise<Sabre> => import('../src/index.js');
const print = (r: Report): void => console.log(JSON.stringify(r));
const message = <T>(from: Worker | NonNullable<typeof parentPort>): Promise<T> => new Promise((resolve) => from.once('message', resolve));

async function observe(sabre: Sabre, who: string, attempt: () => Promise<void>): Promise<Report> {
  const t0 = performance.now();
  try {
    await attempt();
    return { who, outcome: 'ok', ms: performance.now() - t0 };
  } catch (e) {
    return { who, outcome: sabre.isSabreError(e) ? e.code : String(e), ms: performance.now() - t0 };
  }
}

/** A worker: waits for orders from its parent. */
async function worker(role: string): Promise<void> {
  const port = parentPort!;
  if (role === 'outer') {
    // Starts the inner worker before loading sabre, relays its messages both ways.
    const inner = bootstrap('inner');
    inner.on('message', (m) => port.postMessage(m));
    port.on('message', (m) => inner.postMessage(m));
    return;
  }
  const sabre = await loadSabre();
  if (role === 'inner') {
    const mutex = new sabre.Mutex();
    mutex.lock();
    port.postMessage({ handle: mutex.handle });
    await message(port); // 'die'
    process.exit(1);
  }
  port.on('message', (m: { order: 'lock-and-exit' | 'observe'; handle: never }) => {
    const mutex = sabre.Mutex.from(m.handle);
    if (m.order === 'lock-and-exit') {
      mutex.lock();
      port.postMessage('locked');
      process.exit(1);
    }
    const t0 = performance.now();
    try {
      mutex.lock(3000);
      port.postMessage({ who: 'worker B (blocking lock)', outcome: 'ok', ms: performance.now() - t0 });
    } catch (e) {
      port.postMessage({
        who: 'worker B (blocking lock)',
        outcome: sabre.isSabreError(e) ? e.code : String(e),
        ms: performance.now() - t0,
      });
    }
  });
}

async function main(mode: string): Promise<void> {
  if (mode === 'worker-first') {
    const a = bootstrap('plain'),
      b = bootstrap('plain');
    await Promise.all([a, b].map((w) => new Promise((r) => w.once('online', r))));
    const sabre = await loadSabre();
    const mutex = new sabre.Mutex();
    a.postMessage({ order: 'lock-and-exit', handle: mutex.handle });
    await message(a); // 'locked'
    b.postMessage({ order: 'observe', handle: mutex.handle });
    const [mine, theirs] = await Promise.all([
      observe(sabre, 'main (lockAsync)', () => mutex.lockAsync({ timeoutMs: 3000 })),
      message<Report>(b),
    ]);
    print(mine);
    print(theirs);
    await b.terminate();
    return;
  }
  if (mode === 'pool-first') {
    const { Piscina } = await import('piscina');
    const pool = new Piscina({
      filename: new URL('./echo.task.mjs', import.meta.url).href,
      minThreads: 1,
      maxThreads: 1,
      atomics: 'async',
    });
    const { threadId: first } = (await pool.run({ op: 'threadId' })) as { threadId: number };
    const sabre = await loadSabre();
    const { toTaskArgs } = await import('../src/integrations/piscina.js');
    const mutex = new sabre.Mutex();
    await pool.run({ op: 'lock', args: toTaskArgs({ mutex }) }); // the task returns holding it
    const died = pool.run({ op: 'exit', code: 1 }).catch(() => 'exited');
    print(await observe(sabre, 'main (lockAsync)', () => mutex.lockAsync({ timeoutMs: 3000 })));
    await died;
    const { threadId: second } = (await pool.run({ op: 'threadId' })) as { threadId: number };
    mutex.clearPoison();
    // The replacement thread can take the Mutex and dies holding it too.
    await pool.run({ op: 'lock', args: toTaskArgs({ mutex }) });
    const diedAgain = pool.run({ op: 'exit', code: 1 }).catch(() => 'exited');
    print(await observe(sabre, 'main, after recycling (lockAsync)', () => mutex.lockAsync({ timeoutMs: 3000 })));
    await diedAgain;
    print({ who: 'pool', outcome: second !== first ? 'recycled' : 'same thread' });
    await pool.destroy();
    return;
  }
  if (mode === 'nested') {
    const outer = bootstrap('outer');
    const { handle } = await message<{ handle: never }>(outer);
    const sabre = await loadSabre();
    const mutex = sabre.Mutex.from(handle);
    outer.postMessage('die');
    print(await observe(sabre, 'main (lockAsync), holder nested', () => mutex.lockAsync({ timeoutMs: 3000 })));
    await outer.terminate();
    return;
  }
  if (mode === 'blind') {
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    const warnings: string[] = [];
    process.on('warning', (w) => warnings.push((w as Error & { code?: string }).code ?? w.name));
    const sabre = await loadSabre();
    const first = sabre.ThreadRegistry.current.isAlive(777_001);
    sabre.ThreadRegistry.current.isAlive(777_002);
    await new Promise((r) => setImmediate(r));
    print({ who: 'main', outcome: `${String(first)} ${warnings.join(',')}` });
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

if (isMainThread) await main(process.argv[2] ?? '');
else await worker((workerData as { role: string }).role);
