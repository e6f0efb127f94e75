// A tiny app against the packed sabre: every public entry, type-checked by
// the smoke test with skipLibCheck false, with neither piscina nor comlink
// installed (sabre's types must not need them).
import {
  AtomicCounter,
  Mutex,
  ThreadRegistry,
  isSabreError,
  spawnWorker,
  watchPool,
  type AtomicCounterHandle,
  type MutexHandle,
} from 'sabre';
import { closeThreads, defineProgram, runThreads } from 'sabre/testing';
import { fromTaskArgs, piscinaTask, registerKind, toTaskArgs, type SabreClass, type TaskArgs } from 'sabre/piscina';
import { COMLINK_HANDLER_NAME, registerComlinkHandlers, type ComlinkNamespace } from 'sabre/comlink';

interface Live {
  mutex: Mutex;
  counter: AtomicCounter;
  times: number;
}

const mutex = new Mutex();
const counter = new AtomicCounter();
const args: TaskArgs<Live> = toTaskArgs({ mutex, counter, times: 3 });
const sent: MutexHandle = args.mutex;
const live: Live = fromTaskArgs<Live>(args);
live.mutex.runExclusiveSync(() => live.counter.increment());
const filename: string = piscinaTask(import.meta.url, '../workers/count.task');
const kinds: SabreClass[] = [Mutex, AtomicCounter];
for (const Class of kinds) registerKind(Class);

// What `import * as Comlink from 'comlink'` gives, as far as sabre uses it.
const comlink: ComlinkNamespace = { transferHandlers: new Map() };
registerComlinkHandlers(comlink, [AtomicCounter]);
const handlerName: string = COMLINK_HANDLER_NAME;

export const countProgram = defineProgram<{ counter: AtomicCounterHandle }, number>((ctx) => {
  const shared = AtomicCounter.from(ctx.shared.counter);
  for (let i = 0; i < ctx.input; i++) ctx.record('increment', null, () => shared.increment());
});

export async function main(): Promise<void> {
  const { shared } = await runThreads({
    threads: [10, 10],
    program: new URL('./count.js', import.meta.url),
    setup: () => ({ counter: new AtomicCounter().handle }),
    seed: 1,
  });
  await closeThreads();
  const total: number = AtomicCounter.from(shared.counter).get();
  const alive: boolean = ThreadRegistry.current.isAlive(1);
  watchPool({ threads: [spawnWorker(new URL('./worker.js', import.meta.url))] });
  try {
    mutex.lock(10);
  } catch (e) {
    if (isSabreError(e, 'ERR_TIMEOUT')) console.log('busy');
  }
  console.log(sent, filename, handlerName, total, alive);
}
