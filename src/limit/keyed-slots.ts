/**
 * KeyedSlots: the keys of a rate limiter, each mapped to a slot of per-key
 * state in shared memory, with idle keys reclaimed so that a stream of new
 * clients never fills the table. Internal to `TokenBucket` and
 * `SlidingWindow`, which keep the per-key state itself (a 64-bit word, or a
 * ring of timestamps) and tell this class how to start, judge and retire it
 * (`SlotData`).
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES, padToCacheLine } from '../memory/cache-line.js';
import { float64Record, type Codec } from '../memory/codec.js';
import type { Region } from '../memory/region.js';
import { CapacityError } from '../errors.js';
import { systemClock } from '../clock.js';
import { Backoff } from '../memory/backoff.js';
import { Mutex, MUTEX_WORDS } from '../sync/mutex.js';
import { ThreadRegistry } from '../threads/registry.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import type { TableKey } from '../table/key.js';
import type { KeyedStats } from '../table/when-full.js';

const { add, compareExchange, load, load64, sleepSync, store, store64, add64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Layout (byte offsets from this part's start, inside the limiter's region):
 *   0        CONTROL (128 B), Int32 words: SWEEP_LOCK (an embedded Mutex,
 *            MUTEX_WORDS), HINT (where the next claim starts scanning),
 *            SWEEPS (a seqlock over GATE_AT and GATE_INSERTS: odd while a
 *            sweep writes them), INSERTS (keys published so far, mod 2^32),
 *            GATE_INSERTS, FULL (new keys refused for want of room, mod
 *            2^32: what a limiter's stats() reports); BigInt64 at byte 64: GATE_AT
 *   128      STATE: one Int32 per slot (table below)
 *   then     START: one BigInt64 per slot, the slot's incarnation number
 *   then     the table: a SharedHashTable (nested) from key to the record
 *            [slot, start] (two float64s)
 *
 * STATE of a slot, every value:
 *   FREE (0)       no key: any thread may claim it (CAS FREE -> me)
 *   me = tid + 1   claimed by thread tid, which starts an incarnation and
 *                  inserts its mapping; -> PUBLISHED (tid's CAS once the
 *                  mapping is in), -> FREE (tid gives back an incarnation it
 *                  never published; the sweep that retires it; a sweep that
 *                  proves tid dead and finds no mapping)
 *   PUBLISHED (-1) its key is in the table; -> FREE by the sweep that retires it
 *
 * An incarnation: a claimer adds 1 to START (64 bits: a start is never
 * reused), starts the slot's data (SlotData.init) with the request that
 * brought the key already taken (so a new key is not idle, and cannot be
 * retired, before its first request counts), then inserts the mapping
 * key -> (slot, start) with one `compute` (its linearization point, and
 * that first decision's; an invalid mapping is replaced). A reference (slot, start) is valid while
 * START equals `start` and the data is live. A limiter validates its
 * reference inside the atomic step of its decision (the bucket: load the
 * word, load START, CAS the word; the exact window: lock the slot, check
 * DEAD and START).
 *
 * Reclamation: a new key that finds no free slot (or the table full) runs
 * a sweep, one at a time (SWEEP_LOCK): a pass over the table with
 * `removeWhere` asks each mapping's data to retire itself if the key is idle
 * (its bucket full again, its window empty), which checks and marks it dead
 * in one atomic step (the CAS from the idle word to word | DEAD, or DEAD set
 * under the slot lock): the linearization point of the retirement. The
 * sweep that retired an incarnation, and no one else, then frees its slot
 * (from PUBLISHED, or from its claimer's id: that claimer's CAS to
 * PUBLISHED then fails and it leaves the slot alone) and drops the mapping.
 * One free per incarnation, so a free never lands on a later one. The
 * sweep of a new key keeps the first slot it retires for that key (STATE
 * goes to the sweeper's id, a claim, not FREE), so threads that do not
 * sweep cannot take all the room it made, however the threads are
 * scheduled. A new key is refused (CapacityError) only when a pass of its
 * own finds nothing idle and nothing has gone idle by a clock reading taken
 * after it, or the gate holds; other threads' sweeps, or a pass whose clock
 * reading went stale, send it round again (OWN_SWEEPS bounds its own). Nor
 * while another live thread's claim is in flight and the table is not full
 * of published keys: it waits for that claim to end (CLAIM_WAIT_MS at most)
 * and looks again, since the claim may be for its own key.
 *
 * Why a thread that looked a key up before its retirement cannot act on the
 * key that reuses the slot: its CAS succeeds only if the word still holds
 * the value it loaded, which it loaded before reading START equal to its
 * `start`; a new incarnation writes START before its data, so that value
 * was this incarnation's. Words only grow, within an incarnation and across
 * them (a new one starts above the dead word), so a word never returns to a
 * value it left: the CAS fails on any later state (no ABA). The thread then
 * sees DEAD or a new START and looks the key up again: no key, so it starts
 * afresh, as full as the idle state that was retired. A per-thread cache of
 * references (string keys, at most LOCAL_REFS) skips the table lookup and
 * decides nothing, since every use validates.
 *
 * Gate: a sweep that frees nothing records when its survivors may first be
 * idle (GATE_AT) and INSERTS as it began (GATE_INSERTS); until then, with no
 * key published since, new keys are refused at once (a full table of busy
 * keys costs O(1) per refusal, not a pass).
 *
 * Owner death: a claimer that dies leaves STATE = its id; the next sweep
 * takes the ids it can prove dead before its pass: a slot the pass saw
 * mapped to its current, live incarnation becomes PUBLISHED (the insert had
 * committed); any other (never published, or retired: a slot a dying
 * sweeper kept for itself, or whose sweeper died before freeing it) is
 * killed and freed (no thread can hold its start). A sweeper that dies
 * leaves SWEEP_LOCK poisoned (the next sweeper goes on: sweeping repairs
 * what it left) and perhaps a retired slot still mapped: the next sweep
 * frees it if it is still PUBLISHED for that start (read before START, so
 * it is not a later incarnation's), or through its dead owner's id as
 * above, and drops the mapping. A
 * death inside a table `compute` is repaired by the table; a decision is
 * one CAS (or one critical section of the window's slot lock).
 */

const SWEEP_LOCK = 0,
  HINT = MUTEX_WORDS,
  SWEEPS = MUTEX_WORDS + 1,
  INSERTS = MUTEX_WORDS + 2,
  GATE_INSERTS = MUTEX_WORDS + 3,
  FULL = MUTEX_WORDS + 4; // CONTROL Int32 words
const GATE_AT_BYTE = 64; // CONTROL BigInt64 word
const CONTROL_BYTES = CACHE_LINE_BYTES;
const FREE = 0,
  PUBLISHED = -1; // STATE values (claimed: threadId + 1)

/** String keys whose references a limiter instance remembers (a cache of table lookups; cleared when full). */
const LOCAL_REFS = 4096;
/**
 * Passes of its own that kept no slot for it (they made room only in the
 * table, or found keys gone idle after reading the clock) a new key may run
 * before it is refused. Sweeps by other threads do not count: they show
 * that keys go idle, and the key tries again.
 */
const OWN_SWEEPS = 8;
/** The longest a new key waits for other threads' claims in flight to end before it is refused (they take microseconds). */
const CLAIM_WAIT_MS = 50;
/** `sweep` answers other than a kept slot. */
const OTHERS_SWEPT = -1,
  LOOK_AGAIN = -2,
  REFUSE = -3,
  CLAIM_ENDED = -4;
const RECORD_BYTES = 16;

const me = threadId + 1;

/** Largest `capacity` (keys with state at once) of a limiter. */
export const MAX_LIMIT_KEYS = 2 ** 24;
/** Default `capacity`: distinct keys (clients) with state at once. */
export const DEFAULT_LIMIT_KEYS = 10_000;
/** Default longest key, in UTF-8 bytes. */
export const DEFAULT_MAX_LIMIT_KEY_BYTES = 256;

/** A key's state: the slot and the incarnation that was current when it was looked up. */
export interface SlotRef {
  readonly slot: number;
  readonly start: bigint;
}

interface SlotRecord {
  readonly slot: number;
  readonly start: number;
}
const recordCodec: Codec<SlotRecord> = float64Record('slot', 'start');

/** `SlotData.retire` answers: this call retired the state; the state was dead already. */
export const RETIRED = 'retired',
  WAS_DEAD = 'dead';

/** How a limiter's per-slot state is started, judged and retired. */
export interface SlotData {
  /**
   * Starts slot `slot`'s state for a new incarnation at `nowNs`: a key whose
   * first request, of cost `n` (<= the limit: always allowed on a fresh
   * key), has just been taken. Only the claimer touches a claimed slot.
   * Returns what `abandon` needs to undo it.
   */
  init(slot: number, nowNs: bigint, n: number): bigint;
  /** Undoes `init` of an incarnation that was never published (no thread can hold its reference). */
  abandon(slot: number, saved: bigint): void;
  /** Marks the state dead unconditionally (an incarnation whose claimer died before publishing it). */
  kill(slot: number): void;
  /** False once the state is dead (its incarnation retired). */
  isLive(slot: number): boolean;
  /**
   * If the key is idle at `nowNs` (as if it had never been used), marks its
   * state dead in the same atomic step and returns RETIRED; WAS_DEAD if it
   * was dead already; otherwise the earliest time (ns) it may become idle.
   */
  retire(slot: number, nowNs: bigint): bigint | typeof RETIRED | typeof WAS_DEAD;
}

/** What `acquire` found or made: a reference, and the time its request was taken if it started the key. */
export interface Acquired {
  readonly ref: SlotRef;
  /** Set when this call started the key with its request already taken (at this time, ns); undefined when the key had live state. */
  readonly startedAt: bigint | undefined;
}

export interface KeyedSlotsSizes {
  readonly keys: number;
  readonly maxKeyBytes: number;
}

const tableSizes = (s: KeyedSlotsSizes) => ({ capacity: s.keys, maxKeyBytes: s.maxKeyBytes, maxValueBytes: RECORD_BYTES });
const stateAt = (): number => CONTROL_BYTES;
const startAt = (s: KeyedSlotsSizes): number => stateAt() + padToCacheLine(4 * s.keys);
const tableAt = (s: KeyedSlotsSizes): number => startAt(s) + padToCacheLine(8 * s.keys);

const MIN_NS = -(1n << 63n);
const MAX_NS = (1n << 63n) - 1n;
const registry = (): ThreadRegistry => ThreadRegistry.current;

export class KeyedSlots {
  readonly keys: number;
  /** START words (BigInt64), one per slot: read them to validate a reference. */
  readonly starts: BigInt64Array;
  private readonly state: Int32Array;
  private readonly control: Int32Array;
  private readonly gateAt: BigInt64Array;
  private readonly table: SharedHashTable<SlotRecord>;
  private readonly sweepLock: Mutex;
  private readonly refs = new Map<string, SlotRef>();
  /** The earliest time (ns) a survivor of this thread's last pass may go idle (MAX_NS: none). */
  private lastIdleAt = MAX_NS;
  /** A slot this thread's last pass retired and kept for it (claimed: STATE = me), or -1. */
  private kept = -1;
  /** The other threads' claims (slot, STATE pairs) in the way of this thread's last failed claim. */
  private readonly inTheWay: number[] = [];
  private readonly recordBytes = new Uint8Array(RECORD_BYTES);
  private readonly recordView = new DataView(this.recordBytes.buffer);

  /**
   * @param region the limiter's region; this part starts at `byteOffset` of its body
   * @param mode 'create' lays it out (zeroed memory), 'open' re-opens it
   */
  constructor(
    region: Region,
    byteOffset: number,
    sizes: KeyedSlotsSizes,
    mode: 'create' | 'open',
    private readonly data: SlotData,
    private readonly nowNs: () => bigint,
  ) {
    this.keys = sizes.keys;
    this.control = region.i32(byteOffset, CONTROL_BYTES / 4);
    this.gateAt = region.i64(byteOffset + GATE_AT_BYTE, 1);
    this.state = region.i32(byteOffset + stateAt(), sizes.keys);
    this.starts = region.i64(byteOffset + startAt(sizes), sizes.keys);
    this.table = SharedHashTable.nested(region, byteOffset + tableAt(sizes), tableSizes(sizes), recordCodec, mode);
    this.sweepLock = Mutex.embedded(this.control.subarray(SWEEP_LOCK, SWEEP_LOCK + MUTEX_WORDS));
    if (mode === 'create') this.gateAt[0] = MIN_NS; // before publication: no gate
  }

  /** Bytes this part takes (a multiple of 8). */
  static byteLength(sizes: KeyedSlotsSizes): number {
    return tableAt(sizes) + Math.ceil(SharedHashTable.byteLength(tableSizes(sizes)) / 8) * 8;
  }

  /** Keys that have state now (idle ones included until a sweep retires them). */
  get size(): number {
    return this.table.size;
  }

  /**
   * The reference of `key` (remembered, or looked up in the table), or
   * undefined if the key has no state. Not validated: the caller validates
   * it inside its own atomic step.
   * @throws InvalidArgumentError for a key too long or of another type
   */
  find(key: TableKey): SlotRef | undefined {
    if (typeof key === 'string') {
      const ref = this.refs.get(key);
      if (ref !== undefined) return ref;
    }
    const rec = this.table.get(key);
    if (rec === undefined || !(rec.slot >= 0 && rec.slot < this.keys)) return undefined;
    const ref: SlotRef = { slot: rec.slot, start: BigInt(rec.start) };
    if (typeof key === 'string') this.remember(key, ref);
    return ref;
  }

  /** Forgets a remembered reference that failed validation. */
  forget(key: TableKey): void {
    if (typeof key === 'string') this.refs.delete(key);
  }

  /** True while `ref` names the current incarnation of its slot and the state is live (a snapshot). */
  isValid(ref: { readonly slot: number; readonly start: bigint | number }): boolean {
    return this.data.isLive(ref.slot) && load64(this.starts, ref.slot) === BigInt(ref.start);
  }

  /**
   * A reference to live state for `key`; if the key has none (or only a
   * retired one), starts a new incarnation with the caller's request of
   * cost `n` already taken (so a fresh key is never idle, and never
   * retired, before its first request counts).
   * @throws CapacityError when every slot holds a key that is not idle
   */
  acquire(key: TableKey, n: number): Acquired {
    this.forget(key);
    let reserved = -1; // a slot this thread's sweep freed and kept for it
    for (let passes = 0; ;) {
      const found = this.find(key);
      if (found !== undefined && this.isValid(found)) {
        if (reserved >= 0) compareExchange(this.state, reserved, me, FREE);
        return { ref: found, startedAt: undefined };
      }
      this.forget(key);
      // Sweeps that end after this read are a reason to look again, not to refuse.
      const seen = load(this.control, SWEEPS);
      const slot = reserved >= 0 ? reserved : this.claim();
      reserved = -1;
      if (slot < 0) {
        const got = this.sweep(passes < OWN_SWEEPS, seen);
        if (got === REFUSE) {
          add(this.control, FULL, 1);
          throw this.full();
        }
        if (got !== OTHERS_SWEPT) passes++;
        reserved = got >= 0 ? got : -1;
        continue;
      }
      const start = add64(this.starts, slot, 1n) + 1n;
      const now = this.nowNs();
      const saved = this.data.init(slot, now, n);
      const mine: SlotRecord = { slot, start: Number(start) };
      let stored: SlotRecord | undefined;
      try {
        // Linearization point of a key's start: this compute's write. A
        // mapping that is no longer valid (retired) is replaced.
        stored = this.table.compute(key, (cur) => (cur !== undefined && this.isValid(cur) ? cur : mine));
      } catch (e) {
        this.release(slot, saved);
        if (!(e instanceof CapacityError)) throw e;
        const got = this.sweep(passes < OWN_SWEEPS, seen);
        if (got === REFUSE) throw e;
        if (got !== OTHERS_SWEPT) passes++;
        reserved = got >= 0 ? got : -1;
        continue;
      }
      if (stored !== mine) {
        this.release(slot, saved);
        continue; // validate what the other thread stored
      }
      // Fails only if a sweep retired the key already: the sweep then freed the slot.
      compareExchange(this.state, slot, me, PUBLISHED);
      add(this.control, INSERTS, 1);
      const ref: SlotRef = { slot, start };
      if (typeof key === 'string') this.remember(key, ref);
      return { ref, startedAt: now };
    }
  }

  /**
   * Retires every idle key now (as a new key finding no room does).
   * Returns how many keys it retired (and stale mappings it dropped).
   */
  reclaim(): number {
    return Math.max(0, this.sweepNow(undefined, true, false));
  }

  // ---- claims --------------------------------------------------------------

  /**
   * Claims a FREE slot for this thread (CAS FREE -> me), or -1 if none is
   * free; then `inTheWay` holds the other threads' claims it found (slot,
   * STATE pairs), which a refusal waits on.
   */
  private claim(): number {
    const n = this.keys;
    this.inTheWay.length = 0;
    if (this.table.size >= n) return -1;
    const state = this.state;
    let i = (add(this.control, HINT, 1) >>> 0) % n;
    for (let k = 0; k < n; k++) {
      // A plain read as a filter (a stale FREE only costs a failed CAS); the CAS decides.
      const v = state[i]!;
      if (v === FREE && compareExchange(state, i, FREE, me) === FREE) return i;
      if (v > 0 && v !== me) this.inTheWay.push(i, v);
      if (++i === n) i = 0;
    }
    return -1;
  }

  /** Gives back a claimed slot whose incarnation was never published (so no sweep can retire it). */
  private release(slot: number, saved: bigint): void {
    this.data.abandon(slot, saved);
    compareExchange(this.state, slot, me, FREE);
  }

  private remember(key: string, ref: SlotRef): void {
    if (this.refs.size >= LOCAL_REFS) this.refs.clear();
    this.refs.set(key, ref);
  }

  /** What the limiter's `stats()` reports: its keys, and its table's heap. */
  stats(capacity: number): KeyedStats {
    const t = this.table.stats();
    return { keys: t.keys, capacity, refusedWhenFull: this.refusedWhenFull, bytesInUse: t.bytesInUse, maxBytes: t.maxBytes };
  }

  /** New keys refused so far because every slot held a key that was not idle (shared by every thread). */
  get refusedWhenFull(): number {
    return load(this.control, FULL) >>> 0;
  }

  private full(): CapacityError {
    return new CapacityError(`the limiter's ${this.keys} keys all hold state that is not idle yet; create it with a larger capacity`);
  }

  // ---- sweeps --------------------------------------------------------------

  /**
   * A sweep for a new key that found no room. Answers a slot it freed and
   * kept for the caller (so a thread whose sweep makes room is not robbed
   * of all of it by threads that did not sweep), OTHERS_SWEPT (another
   * thread's sweep ended after this one looked for room: look again), LOOK_AGAIN (room
   * in the table, or keys gone idle since the pass read the clock), or
   * REFUSE. `mayRun` false: the caller has run its share of passes, so
   * only another thread's sweep is a reason to look again.
   */
  private sweep(mayRun: boolean, seen: number): number {
    if (load(this.control, SWEEPS) !== seen) return OTHERS_SWEPT; // it may have freed room after this thread looked
    if (this.gated()) return this.refuseUnless(mayRun);
    const room = this.sweepNow(seen, mayRun, true);
    if (room < 0) return OTHERS_SWEPT;
    if (!mayRun) return REFUSE;
    const kept = this.kept;
    this.kept = -1;
    if (kept >= 0) return kept;
    if (room > 0) return LOOK_AGAIN;
    // A pass that found nothing judged every key at the clock reading it
    // started with; if a survivor has gone idle since (this thread was
    // descheduled mid-pass while the clock moved on), a retry finds room.
    // So a refusal means: nothing is idle at a reading taken after the pass.
    if (this.nowNs() >= this.lastIdleAt) return LOOK_AGAIN;
    return this.refuseUnless(mayRun);
  }

  /** REFUSE, unless `mayWait` (the caller has passes left: a wait counts as one) and another thread's claim in flight ends meanwhile. */
  private refuseUnless(mayWait: boolean): number {
    return mayWait && this.claimEnded() ? CLAIM_ENDED : REFUSE;
  }

  /**
   * Before a refusal: waits, for at most CLAIM_WAIT_MS, until one of the
   * live threads' claims that were in the way of this thread's last claim
   * ends (published, or given back when the claimer found its key already
   * there); true if one did (look again). A new key that finds no room while
   * another thread is starting a key may be waiting for that very key, or
   * for the slot the other gives back: four threads starting two keys in a
   * table of four take every slot for a moment. The claims are the ones the
   * failed claim saw, not the ones held now: a claim that ended during this
   * thread's sweep (they take microseconds, a pass longer) made room all
   * the same. A claim that does not end in that time (a claimer not yet
   * proved dead, or one a twin never recovers) does not hold the refusal
   * back, and each wait counts as one of the acquire's OWN_SWEEPS passes,
   * so an acquire always ends.
   */
  private claimEnded(): boolean {
    // Every slot holds a published key: no claim in flight can make room (and a full table refuses in O(1)).
    if (this.table.size >= this.keys) return false;
    const pending: number[] = [];
    const seen = this.inTheWay;
    for (let i = 0; i < seen.length; i += 2) if (!this.claimerDied(seen[i + 1]! - 1)) pending.push(seen[i]!, seen[i + 1]!);
    if (pending.length === 0) return false;
    const backoff = new Backoff();
    const until = systemClock.now() + CLAIM_WAIT_MS;
    for (;;) {
      for (let i = 0; i < pending.length; i += 2) if (load(this.state, pending[i]!) !== pending[i + 1]) return true;
      if (systemClock.now() > until) return false;
      if (backoff.isCompleted()) sleepSync(0.1);
      else backoff.snooze();
    }
  }

  /** True while the last sweep's gate holds: nothing can be idle yet and no key was published since. */
  private gated(): boolean {
    const s1 = load(this.control, SWEEPS);
    if ((s1 & 1) !== 0) return false;
    const at = load64(this.gateAt, 0);
    const inserts = load(this.control, GATE_INSERTS);
    if (load(this.control, SWEEPS) !== s1) return false;
    return inserts === load(this.control, INSERTS) && this.nowNs() < at;
  }

  /**
   * One sweep under SWEEP_LOCK (see the notes). `seen`: SWEEPS as the
   * caller read it before it looked for room; if a sweep has ended since
   * (while this one waited for the lock, or before), sweep nothing and
   * return -1 (worth a retry); undefined: sweep anyway. `mayRun` false:
   * only look whether one did; `keep`: keep one freed slot for this thread
   * (in `kept`). Returns the room it made (slots freed, mappings dropped).
   */
  private sweepNow(seen: number | undefined, mayRun: boolean, keep: boolean): number {
    this.sweepLock.lock({ ignorePoison: true });
    try {
      if (this.sweepLock.isPoisoned) this.sweepLock.clearPoison(); // a sweeper died: sweeping again repairs what it left
      if (seen !== undefined && load(this.control, SWEEPS) !== seen) return -1;
      return mayRun ? this.pass(keep) : 0;
    } finally {
      this.sweepLock.unlock();
    }
  }

  /**
   * The pass. Sweeps are the only retirers, one at a time, and the sweep
   * that retires an incarnation is the only thread that frees its slot
   * (from PUBLISHED or from its claimer's id: a claimer that then tries to
   * publish fails its CAS and leaves it). So a slot is freed once per
   * incarnation, and a free can never land on a later incarnation. With
   * `keep`, the first slot it retires goes to this thread (STATE -> me, as
   * a claim) rather than FREE, and `kept` names it.
   */
  private pass(keep: boolean): number {
    const now = this.nowNs();
    const insertsBefore = load(this.control, INSERTS);
    // Claims of threads proved dead before the pass: what they published is in the table by now.
    const orphans: number[] = [];
    for (let s = 0; s < this.keys; s++) {
      const v = this.state[s]!; // a plain read as a filter; the CASes below decide
      if (v > 0 && v !== me && this.claimerDied(v - 1)) orphans.push(s, v);
    }
    const mapped = orphans.length > 0 ? new Uint8Array(this.keys) : undefined;
    let room = 0; // slots freed, and mappings dropped (room in the table)
    let idleAt = MAX_NS;
    this.table.removeWhere((_key, _isBytes, value) => {
      const rec = this.decodeRecord(value);
      // STATE before START: a PUBLISHED read here belongs to this incarnation if START has not moved.
      const before = rec === undefined ? FREE : load(this.state, rec.slot);
      if (rec === undefined || load64(this.starts, rec.slot) !== BigInt(rec.start)) {
        room++; // a mapping left behind by a sweeper that died: its slot has moved on
        return true;
      }
      const r = this.data.retire(rec.slot, now);
      if (r === RETIRED) {
        // Linearization point of the key's retirement: the CAS inside retire.
        const to = keep && this.kept < 0 ? me : FREE;
        for (;;) {
          const s = load(this.state, rec.slot);
          if (compareExchange(this.state, rec.slot, s, to) === s) break;
        }
        if (to === me) this.kept = rec.slot;
      } else if (r === WAS_DEAD) {
        // Retired by a sweeper that died before freeing it, or before dropping the mapping
        // (a slot once freed is never PUBLISHED again for this START).
        if (before === PUBLISHED) compareExchange(this.state, rec.slot, PUBLISHED, FREE);
      } else {
        // Live and current: if a dead thread's id is on it, that thread had published it.
        if (mapped !== undefined) mapped[rec.slot] = 1;
        if (r < idleAt) idleAt = r;
        return false;
      }
      room++;
      return true;
    });
    for (let i = 0; i < orphans.length; i += 2) {
      const slot = orphans[i]!,
        v = orphans[i + 1]!;
      if (mapped![slot] === 1) {
        compareExchange(this.state, slot, v, PUBLISHED); // it had published (and its key is live)
        continue;
      }
      // Never published: no thread holds its incarnation.
      this.data.kill(slot);
      if (compareExchange(this.state, slot, v, FREE) === v) room++;
    }
    add(this.control, SWEEPS, 1); // odd: the gate is being written
    store64(this.gateAt, 0, room > 0 ? MIN_NS : idleAt);
    this.lastIdleAt = idleAt;
    store(this.control, GATE_INSERTS, insertsBefore);
    add(this.control, SWEEPS, 1);
    return room;
  }

  /** True once thread `id` is proved dead (its claims may then be recovered). A seam for a test twin. @internal */
  protected claimerDied(id: number): boolean {
    return !registry().isAlive(id);
  }

  private decodeRecord(value: Uint8Array): SlotRecord | undefined {
    if (value.length !== RECORD_BYTES) return undefined;
    this.recordBytes.set(value);
    const slot = this.recordView.getFloat64(0, true),
      start = this.recordView.getFloat64(8, true);
    return Number.isInteger(slot) && slot >= 0 && slot < this.keys && Number.isSafeInteger(start) ? { slot, start } : undefined;
  }
}
