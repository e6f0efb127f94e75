/**
 * The search for a linearization of one partition of a history, in slices:
 * `run(steps)` goes on where the last slice stopped, so the checker can
 * share its time among partitions and stop at the first illegal one.
 * @internal (checkLinearizable is the public entry)
 */
import { InvalidArgumentError } from '../errors.js';
import { describeOperation, type Operation } from './history.js';
import { stateHasher, type Model } from './model.js';
import { sameData } from './state-hash.js';

/*
 * Implementation notes
 *
 * Wing and Gong's search (1993) with Lowe's memo (2017), as porcupine's
 * checker.go runs it. Each operation becomes two entries (call, return) in
 * one doubly linked list ordered by time; an indeterminate operation's
 * return is at +Infinity, after every other entry. The search walks the
 * list from the head: at a call entry it tries to place that operation now
 * (model step, then the memo), and if it can, lifts its two entries out of
 * the list and starts again from the head; at a return entry, the operation
 * returning there was invoked, not placed, and everything that could precede
 * it has been tried: backtrack (pop, unlift, go on after the popped call).
 * It succeeds when every determinate operation is placed (indeterminate ones
 * left over never took effect, which is allowed).
 *
 * Memo: a (set of placed operations, model state) pair already reached is
 * not explored again. The set is a bitset with an incremental Zobrist hash
 * (a random word per operation, XORed in and out as it is placed and
 * unplaced: O(1) per step, not O(n)); the state has the model's hash (or a
 * structural one). The Map is keyed by the two hashes mixed into one 32-bit
 * integer; a bucket holds the exact pairs (a copy of the bitset and the
 * state), compared word by word and with the model's equality.
 *
 * Longest partial linearization (for the report of an illegal history): the
 * stack is copied only when the search backtracks from a depth deeper than
 * any before, not at each new depth, so a long history that needs no
 * backtracking costs no copies at all.
 */

interface Entry<A, V> {
  readonly op: Operation<A, V>;
  /** Index of the operation within the partition (its bit). */
  readonly bit: number;
  readonly isCall: boolean;
  /** The call entry's return entry (undefined on a return entry). */
  match: Entry<A, V> | undefined;
  prev: Entry<A, V> | undefined;
  next: Entry<A, V> | undefined;
}

interface MemoPair<S> {
  readonly bits: Uint32Array;
  readonly state: S;
}

/** Where a search is. */
export type SearchStatus = 'running' | 'ok' | 'illegal';

/** A model's step threw: the error names the operation and the state. */
export function modelThrew(model: { describe?(op: never): string }, op: Operation, state: unknown, error: unknown): InvalidArgumentError {
  const text = model.describe ? (model.describe as (o: Operation) => string)(op) : describeOperation(op);
  const message = error instanceof Error ? error.message : String(error);
  let stateText: string;
  try {
    stateText = JSON.stringify(state) ?? String(state);
  } catch {
    stateText = String(state);
  }
  return new InvalidArgumentError(`the model's step threw on ${text} from state ${stateText}: ${message}`, error);
}

export class PartSearch<S, A, V> {
  /** Search steps taken (model steps and backtracks). */
  steps = 0;
  status: SearchStatus = 'running';
  /** On 'ok': the order found. */
  order: Operation<A, V>[] = [];
  /** The longest order found in which every placed operation fits the model. */
  longest: Operation<A, V>[] = [];

  private readonly head: Entry<A, V>;
  private readonly zobrist: Int32Array;
  private readonly placed: Uint32Array;
  private placedHash = 0;
  private readonly memo = new Map<number, MemoPair<S>[]>();
  private readonly stack: { entry: Entry<A, V>; state: S }[] = [];
  private state: S;
  private entry: Entry<A, V> | undefined;
  private mustPlace: number;
  /** True when the stack has been deeper than `longest` since it was last copied. */
  private deeper = false;
  private readonly hash: (s: S) => number;
  private readonly equal: (a: S, b: S) => boolean;

  constructor(
    readonly ops: readonly Operation<A, V>[],
    private readonly model: Model<S, A, V>,
  ) {
    this.hash = stateHasher(model);
    this.equal = model.equal ? model.equal.bind(model) : sameData;
    this.head = makeList(ops);
    this.entry = this.head.next;
    this.placed = new Uint32Array((ops.length + 31) >>> 5);
    this.zobrist = new Int32Array(ops.length);
    let x = 0x2545f491 ^ ops.length; // xorshift32: the same words every run
    for (let i = 0; i < ops.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.zobrist[i] = x;
    }
    this.mustPlace = ops.filter((op) => op.ret !== Infinity).length;
    this.state = model.init();
    if (this.mustPlace === 0) this.status = 'ok';
  }

  /**
   * Goes on for at most `budget` more steps.
   * @throws InvalidArgumentError when the model's step throws
   */
  run(budget: number): SearchStatus {
    if (this.status !== 'running') return this.status;
    const { model, placed, zobrist, memo, stack, head, hash, equal } = this;
    let { state, entry, placedHash, mustPlace } = this;
    const end = this.steps + budget;
    let steps = this.steps;
    try {
      while (mustPlace > 0) {
        if (steps++ >= end) return 'running';
        if (entry === undefined) throw new Error('unreachable: a determinate operation’s return entry ends every scan');
        if (entry.isCall) {
          const op = entry.op;
          let r;
          try {
            r = model.step(state, op, op.output);
          } catch (e) {
            throw modelThrew(model, op, state, e);
          }
          if (r.ok) {
            const bit = entry.bit;
            placed[bit >>> 5]! |= 1 << (bit & 31);
            const h = placedHash ^ zobrist[bit]!;
            const key = (h ^ Math.imul(hash(r.state), 0x9e3779b1)) | 0;
            const bucket = memo.get(key);
            if (!bucket?.some((p) => sameBits(p.bits, placed) && equal(p.state, r.state))) {
              const pair = { bits: placed.slice(), state: r.state };
              if (bucket === undefined) memo.set(key, [pair]);
              else bucket.push(pair);
              stack.push({ entry, state });
              state = r.state;
              placedHash = h;
              if (op.ret !== Infinity) mustPlace--;
              lift(entry);
              if (stack.length > this.longest.length) this.deeper = true;
              entry = head.next;
              continue;
            }
            placed[bit >>> 5]! &= ~(1 << (bit & 31));
          }
          entry = entry.next;
          continue;
        }
        // A return entry: its operation could not be placed before it. Backtrack.
        if (this.deeper) {
          this.longest = stack.map((s) => s.entry.op);
          this.deeper = false;
        }
        const top = stack.pop();
        if (top === undefined) return (this.status = 'illegal');
        const bit = top.entry.bit;
        placed[bit >>> 5]! &= ~(1 << (bit & 31));
        placedHash ^= zobrist[bit]!;
        state = top.state;
        if (top.entry.op.ret !== Infinity) mustPlace++;
        unlift(top.entry);
        entry = top.entry.next;
      }
      this.order = stack.map((s) => s.entry.op);
      this.longest = this.order;
      return (this.status = 'ok');
    } finally {
      this.steps = steps;
      this.state = state;
      this.entry = entry;
      this.placedHash = placedHash;
      this.mustPlace = mustPlace;
    }
  }

  /** The candidates for the next place after `longest`: not in it, invoked before the earliest return among the rest. */
  unplaced(): Operation<A, V>[] {
    const done = new Set(this.longest);
    const rest = this.ops.filter((op) => !done.has(op));
    let firstReturn = Infinity;
    for (const op of rest) if (op.ret < firstReturn) firstReturn = op.ret;
    return rest
      .filter((op) => op.call < firstReturn && op.ret !== Infinity)
      .concat(rest.filter((op) => op.call < firstReturn && op.ret === Infinity));
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function makeList<A, V>(ops: readonly Operation<A, V>[]): Entry<A, V> {
  const entries: Entry<A, V>[] = [];
  ops.forEach((op, bit) => {
    const call: Entry<A, V> = { op, bit, isCall: true, match: undefined, prev: undefined, next: undefined };
    const ret: Entry<A, V> = { op, bit, isCall: false, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    entries.push(call, ret);
  });
  const at = (e: Entry<A, V>): number => (e.isCall ? e.op.call : e.op.ret);
  entries.sort((a, b) => at(a) - at(b) || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry<A, V> = { op: undefined as never, bit: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Removes a call entry and its return entry from the list. */
function lift<A, V>(call: Entry<A, V>): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back (in the reverse order of `lift`). */
function unlift<A, V>(call: Entry<A, V>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}
