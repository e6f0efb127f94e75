/**
 * ThreadRegistry: thread liveness, as this thread can learn it.
 *
 * Locks record their owner as `threadId + 1`. When a lock's owner may be
 * gone, a waiter asks `isAlive(threadId)`. Death is learned three ways, and
 * recorded in shared memory once, for every thread to see:
 *   1. the OS: each thread records its Linux thread id (`os-thread.ts`) in
 *      the registry tables it knows, and `isAlive` checks it directly. This
 *      is what makes recovery independent of the parent, of the order in
 *      which sabre and the workers were started, and of nesting: a parent
 *      blocked in a wait, busy in a loop, or that never loaded sabre, runs no
 *      'exit' handler, but any waiter can look;
 *   2. the real `Worker` 'exit' event, in whichever thread created the worker
 *      (`process.on('worker')` is installed when sabre loads, so every worker
 *      a sabre-using thread starts afterwards is watched; `watchWorker` covers
 *      the rest). Where there is no `/proc`, this is the only way, and sabre
 *      says so once, loudly, the first time it cannot tell;
 *   3. `markDead(threadId)`, for callers who know better (tests, supervisors).
 *
 * Implementation notes
 *   The shared words are `RegistryTable`s. This thread's own table is the one
 *   it inherited through environment data, or a new one when it inherited
 *   none (it started before its parent loaded sabre, or its parent never
 *   did). Every handle carries its creator's table (`Handle.threads`), and
 *   opening a handle joins that table: this thread registers its OS identity
 *   there and reads it from then on. A thread can only hold what it opened,
 *   so every holder is registered in the table of the handle a waiter opened.
 *   Liveness is the union over the tables this thread knows: a dead bit in
 *   any is final; an OS identity in any is checked; neither means "never heard
 *   of", treated as alive (sabre never recovers a lock from a thread it cannot
 *   prove dead). `markDead` writes every known table.
 */
import { getEnvironmentData, setEnvironmentData, threadId } from 'node:worker_threads';
import { identify, osThreadAlive, type OsThreadIdentity } from './os-thread.js';
import { RegistryTable, SLOT_COUNT } from './registry-table.js';
import { HandleError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

const ENV_KEY = 'sabre.threads.v1';

/** How long a positive liveness answer is trusted by this thread (the dead bits are always read), so hot paths can ask often. */
const ALIVE_CACHE_MS = 1;
/**
 * How long a positive /proc answer found by any thread is trusted by every
 * thread (recorded in the table): many threads waiting for one holder share
 * one look per window. It adds at most this much to the time a death takes
 * to be learned, well inside the 100 ms recovery goal.
 */
const SHARED_ALIVE_MS = 15;

/** How often `learnDeaths` looks at every slot (4,096 loads): a death is learned this much later at most. */
const LEARN_DEATHS_MS = 10;

/** Milliseconds on the process's monotonic clock (the same in every thread, unlike performance.now). */
function processMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}

export type DeathListener = (threadId: number) => void;

export class ThreadRegistry {
  /** The tables this thread knows; `[0]` is its own. */
  private readonly tables: RegistryTable[];
  private readonly known = new Map<string, RegistryTable>();
  /** Buffer objects already joined (each clone of a buffer is a new object, so `known` decides by id). */
  private readonly joined = new WeakSet<object>();
  private readonly listeners = new Set<DeathListener>();
  private readonly checkedAlive = new Map<number, number>();
  private learnedAt = -Infinity;
  private readonly self: OsThreadIdentity | undefined;

  /** Use `ThreadRegistry.current`. */
  private constructor(own: RegistryTable) {
    this.self = identify();
    this.tables = [own];
    this.known.set(own.id, own);
    this.joined.add(own.buffer);
    this.registerIn(own);
  }

  /** The registry of this thread. */
  static get current(): ThreadRegistry {
    return ThreadRegistry.instance;
  }

  // Made when this module loads: the thread's OS identity is recorded then.
  private static readonly instance: ThreadRegistry = ThreadRegistry.openOrCreate();

  /** Opens the table that this thread inherited through environment data, or creates one and passes it on. */
  private static openOrCreate(): ThreadRegistry {
    const inherited = RegistryTable.open(getEnvironmentData(ENV_KEY));
    if (inherited !== undefined) return new ThreadRegistry(inherited);
    const own = RegistryTable.create();
    setEnvironmentData(ENV_KEY, own.buffer); // workers this thread starts from now on inherit it
    return new ThreadRegistry(own);
  }

  /**
   * The buffer of this thread's own table: what the handles it creates carry.
   * @internal
   */
  get buffer(): SharedArrayBuffer {
    return this.tables[0]!.buffer;
  }

  /**
   * Makes the table over `buffer` (a handle's `threads`) one this thread
   * reads and is registered in. Cheap when already known.
   * @throws HandleError when `buffer` is not a thread registry
   * @internal
   */
  join(buffer: unknown): void {
    if (this.joined.has(buffer as object)) return;
    const found = RegistryTable.open(buffer);
    if (found === undefined) {
      throw new HandleError(`handle's threads must be the SharedArrayBuffer of a sabre thread registry, got ${describeValue(buffer)}`);
    }
    if (!this.known.has(found.id)) {
      this.known.set(found.id, found);
      this.tables.push(found);
      this.registerIn(found);
    }
    this.joined.add(found.buffer);
  }

  /** Deaths recorded so far: a cheap "did anything die since I last looked?". */
  get deaths(): number {
    let sum = 0;
    for (const t of this.tables) sum += t.deaths;
    return sum;
  }

  /**
   * Whether `id` is alive, as far as can be proved. Never false for a live
   * thread; true for a thread sabre has never heard of.
   */
  isAlive(id: number): boolean {
    if (!Number.isInteger(id)) throw new InvalidArgumentError(`threadId must be an integer, got ${describeValue(id)}`);
    if (id < 0) return false; // what an exited Worker's threadId reads
    if (id === threadId || id === 0) return true;
    if (this.anyDead(id)) return false;
    const now = performance.now();
    const checked = this.checkedAlive.get(id);
    if (checked !== undefined && now - checked < ALIVE_CACHE_MS) return true;
    for (const t of this.tables) {
      const slot = t.slotOf(id);
      if (slot < 0) continue;
      const os = t.identityAt(slot, id);
      if (os === undefined) continue;
      const shared = processMs();
      if (t.checkedWithin(slot, shared, SHARED_ALIVE_MS)) {
        this.checkedAlive.set(id, now);
        return true;
      }
      if (osThreadAlive(os)) {
        t.noteChecked(slot, shared); // only a real look is shared: a trusted stamp is never renewed by trusting it
        this.checkedAlive.set(id, now);
        return true;
      }
      this.markDead(id);
      return false;
    }
    // Never registered, or registered without an OS identity: alive unless proved dead.
    if (this.anyDead(id)) return false;
    if (this.self === undefined) this.warnBlind();
    this.checkedAlive.set(id, now);
    return true;
  }

  /**
   * Checks every registered thread of the tables this thread knows (at most
   * once per LEARN_DEATHS_MS: a look reads every slot) and
   * returns `deaths` afterwards: for a sweep that reclaims what dead threads
   * owned and must not miss a death nobody has looked at yet.
   */
  learnDeaths(): number {
    const now = performance.now();
    if (now - this.learnedAt >= LEARN_DEATHS_MS) {
      this.learnedAt = now; // a flood of callers looks once per window
      for (const t of this.tables) for (const [id] of t.registered()) this.isAlive(id);
    }
    return this.deaths;
  }

  /** Records that thread `id` has stopped (idempotent) and tells this thread's listeners. */
  markDead(id: number): void {
    if (id === threadId || id <= 0) return;
    this.checkedAlive.delete(id);
    let fresh = false;
    for (const t of this.tables) if (t.setDead(id)) fresh = true;
    if (!fresh) return;
    for (const listener of this.listeners) listener(id);
  }

  /**
   * Calls `listener(threadId)` in this thread whenever this thread records a
   * death (from an 'exit' event or a liveness check). Returns an unsubscribe.
   */
  onDeath(listener: DeathListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private anyDead(id: number): boolean {
    for (const t of this.tables) if (t.isDead(id)) return true;
    return false;
  }

  /** Records the calling thread's OS identity in `table`, sweeping dead threads' slots when it is full. */
  private registerIn(table: RegistryTable): void {
    if (this.self === undefined || threadId === 0) return;
    if (table.register(threadId, this.self)) return;
    for (const [id, os] of table.registered()) if (!osThreadAlive(os)) this.markDead(id);
    if (table.register(threadId, this.self)) return;
    process.emitWarning(
      `sabre: a thread registry is full (${SLOT_COUNT} live threads); thread ${threadId} is recovered by 'exit' events only`,
      { type: 'SabreWarning', code: 'SABRE_REGISTRY_FULL' },
    );
  }

  /** Says once per process that this platform cannot prove a thread dead from the outside. */
  private warnBlind(): void {
    if (!this.tables[0]!.claimWarning()) return;
    process.emitWarning(
      'sabre cannot tell from here whether another thread is alive: this platform has no /proc. A worker that dies ' +
        "holding a lock is recovered only through its 'exit' event, which sabre sees for workers started after sabre " +
        'was loaded in their parent thread; call watchWorker(worker) for the others, or markDead(threadId) from a supervisor.',
      { type: 'SabreWarning', code: 'SABRE_LIVENESS_BLIND' },
    );
  }
}
