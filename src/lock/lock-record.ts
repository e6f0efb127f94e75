/**
 * The record of one lock name in a LockManager: its held set and its request
 * queue, the binary codec that stores them in the manager's SharedHashTable,
 * and the Web Locks rules that move requests from one to the other
 * (https://w3c.github.io/web-locks/: "grantable", "process the lock request
 * queue", steal). Pure functions over immutable values: the manager runs each
 * step inside one `compute` on the name's record, so a step is atomic; this
 * module knows nothing of shared memory or threads.
 *
 * A step returns the record unchanged (the very same object) when it changes
 * nothing, so `compute` writes nothing.
 * @internal
 */
import type { Codec } from '../memory/codec.js';
import { CapacityError } from '../errors.js';

/** Entry flags. */
export const SHARED = 1; // the request's mode is 'shared' (else 'exclusive')
export const GRANTED_OWNER_DIED = 2; // granted while the name's previous holder had died holding it
/**
 * Granted by another step (the queue moved) and not yet seen by its own
 * thread, which clears it (`see`) before it runs the callback: a thread
 * that dies with this flag set never held the lock in its callback, so its
 * removal reports no death.
 */
export const UNSEEN = 4;

/** Record flags. */
export const OWNER_DIED_PENDING = 1; // a holder died holding the name; the next grant reports it

/**
 * One request: the thread that made it, its id in that thread, its flags, and
 * when it took its place (`systemClock` ms, read inside the step): queued, the
 * time of the request; held, the time of the grant. One clock for the whole
 * process, read under the record's lock, so these times order the steps of
 * different names as they happened (`query` lists by them).
 */
export interface LockEntry {
  readonly thread: number;
  readonly id: number;
  readonly flags: number;
  readonly at: number;
}

/** A name's state: who holds it (in grant order) and who waits (in queue order). */
export interface LockRecord {
  readonly flags: number;
  readonly held: readonly LockEntry[];
  readonly queue: readonly LockEntry[];
}

/*
 * Encoding (little-endian): a 5-byte header [flags u8, held count u16, queue
 * count u16], then the held entries, then the queued ones, 17 bytes each
 * [thread u32, id u32, flags u8, at f64].
 */
const HEADER_BYTES = 5;
const ENTRY_BYTES = 17;

/** Encoded size of a record with `maxEntries` entries. */
export function recordBytes(maxEntries: number): number {
  return HEADER_BYTES + ENTRY_BYTES * maxEntries;
}

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}
/** A float64 and its bytes (this platform is little-endian, as the encoding). */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
function putEntries(b: Uint8Array, at: number, list: readonly LockEntry[]): number {
  for (const e of list) {
    put32(b, at, e.thread);
    put32(b, at + 4, e.id);
    b[at + 8] = e.flags;
    f64[0] = e.at;
    b.set(f64Bytes, at + 9);
    at += ENTRY_BYTES;
  }
  return at;
}
function readEntries(b: Uint8Array, at: number, count: number): LockEntry[] {
  const out: LockEntry[] = [];
  for (let i = 0; i < count; i++, at += ENTRY_BYTES) {
    for (let k = 0; k < 8; k++) f64Bytes[k] = b[at + 9 + k]!;
    out.push({ thread: u32(b, at), id: u32(b, at + 4), flags: b[at + 8]!, at: f64[0]! });
  }
  return out;
}

/** The codec of the manager's table (plain byte loops: measured faster than a DataView for records this small). */
export const recordCodec: Codec<LockRecord> = {
  encode(r) {
    const out = new Uint8Array(recordBytes(r.held.length + r.queue.length));
    recordCodec.encodeInto!(r, out);
    return out;
  },
  encodeInto(r, target) {
    const bytes = recordBytes(r.held.length + r.queue.length);
    if (target.length < bytes) return -1;
    target[0] = r.flags;
    target[1] = r.held.length;
    target[2] = r.held.length >>> 8;
    target[3] = r.queue.length;
    target[4] = r.queue.length >>> 8;
    putEntries(target, putEntries(target, HEADER_BYTES, r.held), r.queue);
    return bytes;
  },
  decode(bytes) {
    const heldCount = u16(bytes, 1);
    const held = readEntries(bytes, HEADER_BYTES, heldCount);
    return { flags: bytes[0]!, held, queue: readEntries(bytes, HEADER_BYTES + heldCount * ENTRY_BYTES, u16(bytes, 3)) };
  },
};

const IDLE: LockRecord = Object.freeze({ flags: 0, held: Object.freeze([]), queue: Object.freeze([]) });

/** True for a record with no request and no flag: its name may leave the table. */
export function isIdle(r: LockRecord | undefined): boolean {
  return r?.held.length === 0 && r.queue.length === 0 && r.flags === 0;
}

/**
 * The idle record a step leaves behind: an idle name keeps its record (a
 * rewrite in place is cheaper than a delete now and an insert at the next
 * request); the manager evicts idle records when a new name needs the room.
 */
function finish(r: LockRecord): LockRecord {
  return isIdle(r) ? IDLE : r;
}

/**
 * The spec's "grantable" for a request of this mode against the held set
 * (the caller has already checked that it heads the queue, or that the queue
 * is empty): an exclusive request needs nothing held; a shared one needs no
 * exclusive holder.
 */
export function compatible(held: readonly LockEntry[], shared: boolean): boolean {
  if (!shared) return held.length === 0;
  for (const e of held) if ((e.flags & SHARED) === 0) return false;
  return true;
}

/**
 * Moves `entries` into the held set, granted at `now`, tagging them with the
 * pending owner-died flag (which they then consume) and, when this step
 * grants them on behalf of their threads (`unseen`), with UNSEEN.
 */
function grant(r: LockRecord, entries: readonly LockEntry[], queue: readonly LockEntry[], now: number, unseen: boolean): LockRecord {
  const died = (r.flags & OWNER_DIED_PENDING) !== 0;
  const tags = (died ? GRANTED_OWNER_DIED : 0) | (unseen ? UNSEEN : 0);
  const granted = entries.map((e) => ({ thread: e.thread, id: e.id, flags: e.flags | tags, at: now }));
  return { flags: died ? r.flags & ~OWNER_DIED_PENDING : r.flags, held: [...r.held, ...granted], queue };
}

/**
 * A held entry whose removal is a death to report: its thread saw the grant
 * (it may have been inside its callback), or it was granted a death report
 * that it never saw (which passes on).
 */
const reportsDeath = (e: LockEntry): boolean => (e.flags & UNSEEN) === 0 || (e.flags & GRANTED_OWNER_DIED) !== 0;

/**
 * The spec's "process the lock request queue": grants requests from the head
 * of the queue for as long as the head is compatible with the held set (so a
 * run of shared requests at the head is granted together, and a shared
 * request behind a waiting exclusive one waits). After it, the head (if any)
 * is not grantable: every step below ends with it, so that holds between
 * steps. The requests it grants are UNSEEN until their threads see them.
 */
export function processQueue(r: LockRecord, now: number): LockRecord {
  let n = 0;
  let held = r.held;
  while (n < r.queue.length) {
    const head = r.queue[n]!;
    if (!compatible(held, (head.flags & SHARED) !== 0)) break;
    held = [...held, head];
    n++;
  }
  return n === 0 ? r : grant(r, r.queue.slice(0, n), r.queue.slice(n), now, true);
}

/** What `request` did with a new request. */
export const GRANTED = 0,
  QUEUED = 1,
  UNAVAILABLE = 2;
export type RequestOutcome = typeof GRANTED | typeof QUEUED | typeof UNAVAILABLE;

export interface RequestStep {
  readonly next: LockRecord | undefined;
  readonly outcome: RequestOutcome;
  /** The entry as it stands in `next` (with GRANTED_OWNER_DIED if granted so). */
  readonly entry: LockEntry;
}

/**
 * A new request (the spec's "request a lock", steps under the lock manager's
 * queue), made at `entry.at`: with `steal`, every holder is dropped and the
 * request is granted at once; otherwise it is granted if the queue is empty
 * and it is compatible with the held set, refused (`UNAVAILABLE`, record
 * unchanged) with `ifAvailable`, and queued at the tail otherwise. A grant
 * here is seen: the requesting thread runs this step.
 * @throws CapacityError when the name already has `maxEntries` requests held or queued
 */
export function request(
  current: LockRecord | undefined,
  entry: LockEntry,
  how: { ifAvailable: boolean; steal: boolean },
  maxEntries: number,
  name: string,
): RequestStep {
  const r = current ?? IDLE;
  if (how.steal) {
    // The spec: remove every held lock of the name (their holders learn it as
    // an AbortError), prepend the request to the queue, process the queue:
    // nothing is held, so the request, exclusive at the head, is granted alone.
    // A death report granted to a holder that never saw it passes on.
    const flags = r.held.some((e) => (e.flags & UNSEEN) !== 0 && (e.flags & GRANTED_OWNER_DIED) !== 0)
      ? r.flags | OWNER_DIED_PENDING
      : r.flags;
    const next = grant({ flags, held: [], queue: r.queue }, [entry], r.queue, entry.at, false);
    checkSize(next, maxEntries, name);
    return { next, outcome: GRANTED, entry: next.held[0]! };
  }
  if (r.queue.length === 0 && compatible(r.held, (entry.flags & SHARED) !== 0)) {
    checkSize({ ...r, held: [...r.held, entry] }, maxEntries, name);
    const next = grant(r, [entry], r.queue, entry.at, false);
    return { next, outcome: GRANTED, entry: next.held[next.held.length - 1]! };
  }
  if (how.ifAvailable) return { next: current, outcome: UNAVAILABLE, entry };
  const next = { flags: r.flags, held: r.held, queue: [...r.queue, entry] };
  checkSize(next, maxEntries, name);
  return { next, outcome: QUEUED, entry };
}

function checkSize(r: LockRecord, maxEntries: number, name: string): void {
  if (r.held.length + r.queue.length > maxEntries) {
    throw new CapacityError(
      `lock ${JSON.stringify(name)} already has ${maxEntries} requests held or queued (maxRequestsPerName); release some, or create the LockManager with a larger maxRequestsPerName`,
    );
  }
}

const same =
  (thread: number, id: number) =>
  (e: LockEntry): boolean =>
    e.thread === thread && e.id === id;

/** Where request (thread, id) stands in `r`. */
export const HELD = 0,
  WAITING = 1,
  ABSENT = 2;
export type Standing = typeof HELD | typeof WAITING | typeof ABSENT;
export function standing(r: LockRecord | undefined, thread: number, id: number): Standing {
  if (r === undefined) return ABSENT;
  const is = same(thread, id);
  if (r.held.some(is)) return HELD;
  return r.queue.some(is) ? WAITING : ABSENT;
}

/** The held entry of request (thread, id), if it holds. */
export function heldEntry(r: LockRecord | undefined, thread: number, id: number): LockEntry | undefined {
  return r?.held.find(same(thread, id));
}

/**
 * Releases request (thread, id) if it holds, and processes the queue at
 * `now`. `found` false means it no longer held: it was stolen. `unused`: its
 * callback never ran (its signal aborted first), so a death report it was
 * granted passes on to the next grant.
 */
export function release(
  r: LockRecord | undefined,
  thread: number,
  id: number,
  now: number,
  unused = false,
): { next: LockRecord | undefined; found: boolean } {
  if (r === undefined) return { next: r, found: false };
  const i = r.held.findIndex(same(thread, id));
  if (i < 0) return { next: r, found: false };
  const flags = unused && (r.held[i]!.flags & GRANTED_OWNER_DIED) !== 0 ? r.flags | OWNER_DIED_PENDING : r.flags;
  const next = processQueue({ flags, held: [...r.held.slice(0, i), ...r.held.slice(i + 1)], queue: r.queue }, now);
  return { next: finish(next), found: true };
}

/**
 * Request (thread, id), granted by another step, is seen by its thread:
 * clears its UNSEEN flag. `found` false means it no longer holds (stolen).
 */
export function see(r: LockRecord | undefined, thread: number, id: number): { next: LockRecord | undefined; found: boolean } {
  if (r === undefined) return { next: r, found: false };
  const i = r.held.findIndex(same(thread, id));
  if (i < 0) return { next: r, found: false };
  const e = r.held[i]!;
  if ((e.flags & UNSEEN) === 0) return { next: r, found: true };
  const held = [...r.held];
  held[i] = { ...e, flags: e.flags & ~UNSEEN };
  return { next: { flags: r.flags, held, queue: r.queue }, found: true };
}

/**
 * Takes request (thread, id) out of the queue (its wait ended by timeout or
 * abort) and processes the queue at `now`, which may now grant those it
 * blocked. Says where the request stood: if it was already granted, it stays
 * granted.
 */
export function withdraw(
  r: LockRecord | undefined,
  thread: number,
  id: number,
  now: number,
): { next: LockRecord | undefined; was: Standing } {
  const was = standing(r, thread, id);
  if (was !== WAITING) return { next: r, was };
  const is = same(thread, id);
  const next = processQueue({ flags: r!.flags, held: r!.held, queue: r!.queue.filter((e) => !is(e)) }, now);
  return { next: finish(next), was };
}

/**
 * Removes every entry of the threads in `dead` and processes the queue at
 * `now`. A held entry that its thread had seen sets the owner-died flag for
 * the next grant (the thread died holding: perhaps inside its callback); one
 * it never saw (granted after it stopped waiting, or after it died) sets
 * nothing, unless it carried a death report of its own, which passes on. A
 * queued one simply leaves.
 */
export function removeDead(r: LockRecord | undefined, dead: ReadonlySet<number>, now: number): LockRecord | undefined {
  if (r === undefined) return undefined;
  const held = r.held.filter((e) => !dead.has(e.thread));
  const queue = r.queue.filter((e) => !dead.has(e.thread));
  if (held.length === r.held.length && queue.length === r.queue.length) return r;
  const died = r.held.some((e) => dead.has(e.thread) && reportsDeath(e));
  return finish(processQueue({ flags: died ? r.flags | OWNER_DIED_PENDING : r.flags, held, queue }, now));
}

/** The threads other than `self` with an entry in `r`. */
export function threadsOf(r: LockRecord | undefined, self: number): number[] {
  if (r === undefined) return [];
  const out: number[] = [];
  for (const list of [r.held, r.queue]) for (const e of list) if (e.thread !== self && !out.includes(e.thread)) out.push(e.thread);
  return out;
}
