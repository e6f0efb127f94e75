/**
 * SlabHeap: the variable-size storage of a SharedHashTable's keys and values,
 * in the table's own region. A table reserves `maxBytes` of it, not
 * capacity x the largest value, and what becomes resident follows what is
 * stored: an entry takes one block of the smallest size class that holds it,
 * and blocks are packed into 4 KiB pages handed out in order.
 */
import * as seam from '../memory/atomics.js';
import { ThreadRegistry } from '../threads/registry.js';

const { add, compareExchange, load, load64, store, store64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Size classes (as a slab allocator, or mimalloc's pages): an entry (key
 * bytes, then value bytes) of up to MAX_BLOCK_BYTES takes one block of the
 * smallest class that holds it: 16, 32, .. 128, then the largest multiple of
 * 16 that fits n times in a page for n = 28, 27, .. 2 (144 .. 2048), so a
 * class never wastes more than 12.5% of a page to rounding, and the page
 * cost of an entry, PAGE_BYTES / (blocks per page), grows with its size.
 * Longer entries take a chain of whole pages and, when what is left fits a
 * block, a tail block of its class (else one more page), so no entry wastes
 * more than 12.5% of its tail beyond the classes' own rounding. Every page
 * belongs to one owner (a table segment) and one class (or CHAIN), or is
 * FREE.
 *
 * Words (Int32; the page table and the globals live in the table's region):
 *   page table, one record per page: INFO (0 = FREE, else (owner + 1) x 256
 *     + class, CHAIN for a chain page), LIVE (blocks in use), BUMP (blocks
 *     ever handed out since the page was taken), FREE (block + 1 heading the
 *     page's free list; a free block's first word holds the next), NEXT and
 *     PREV (page + 1: the owner's list of pages of this class that have a
 *     free block; NEXT alone links a chain's pages, and in its last page is
 *     0, or -(tail block's offset / 16) - 1)
 *   per owner: HEADS, one word per class (page + 1 heading that list)
 *   globals: HIGH (pages ever taken from the never-used end), RELEASES
 *     (pages made FREE so far), CURSOR (where the next look for a FREE page
 *     starts), MARK (a 64-bit word: [RELEASES, deaths] when a look over
 *     every page below HIGH found none FREE)
 *
 * Who writes what: an owner's pages (all but INFO) and HEADS are written
 * only under the owner's lock, with plain writes: the table's segment lock
 * (which also makes its sequence word odd: the heap's writes are part of
 * the table's write). Pages move between owners through INFO alone: an
 * owner takes a FREE page by CAS(INFO, 0, owner) and gives one back with a
 * store of 0 then an add to RELEASES. The CAS reads from that store, so
 * everything the old owner wrote happens-before the new owner's writes.
 *
 * Readers (the table's lock-free reads) copy an entry's bytes, and follow a
 * chain's NEXT words, with plain reads validated by the segment's sequence
 * word (the RMW re-check; shared-hash-table.ts, "Memory model"). A block is
 * only ever freed inside its owner's write, and its page only reaches
 * another owner through INFO, after that write began: so a reader whose
 * re-check passes read-before every later owner's writes too. A racing
 * reader may see any offset ever stored: offsets are clamped to the heap and
 * chain walks to the entry's page count, so it stays in bounds.
 *
 * Taking a page: when MARK holds (RELEASES and the registry's deaths are as
 * they were when a look found no FREE page below HIGH), every page below
 * HIGH is taken, so the owner takes the next never-used page (CAS on HIGH);
 * otherwise it looks from CURSOR for a FREE page below HIGH, and sets MARK
 * if there is none. A full heap therefore refuses in O(1) until a page is
 * released or a thread dies, and filling one never rescans.
 *
 * Owner death: the truth is the owner's LIVE entries (the table's slots) and
 * INFO; everything else is derived. A thread that dies holding the owner's
 * lock (between taking a page and linking it, between popping a block and
 * marking its slot LIVE, mid-release) poisons the lock, and the repairer
 * rebuilds, from the entries the table says are LIVE, every page of that
 * owner: which blocks are in use, the free lists, LIVE and BUMP, HEADS,
 * releasing the pages nothing uses. A death between a release's store of
 * INFO and its add to RELEASES leaves a FREE page that MARK hides: the
 * death changes the deaths count, which MARK includes. A death between the
 * CAS on HIGH and the CAS on INFO leaves a FREE page below HIGH, found the
 * same way. So nothing leaks for good.
 */

/** Bytes of a page: the unit the heap hands to an owner, and the OS page size on x86-64 and most ARM64 Linux. */
export const PAGE_BYTES = 4096;
/** Entries up to this many bytes take one block; longer ones a chain of pages. */
export const MAX_BLOCK_BYTES = 2048;
const GRAIN = 16;

/** The classes' block sizes, ascending (see the notes). */
const CLASS_BYTES: readonly number[] = (() => {
  const sizes: number[] = [];
  for (let b = GRAIN; b <= 128; b += GRAIN) sizes.push(b);
  for (let n = 28; n >= 2; n--) {
    const b = Math.floor(PAGE_BYTES / n / GRAIN) * GRAIN;
    if (b > sizes[sizes.length - 1]!) sizes.push(b);
  }
  return sizes;
})();
/** Number of size classes: the words of an owner's HEADS. */
export const CLASSES = CLASS_BYTES.length;
const CHAIN = 255;
const PER_PAGE = CLASS_BYTES.map((b) => Math.floor(PAGE_BYTES / b));
/** The class of an entry of ceil(bytes / 16) grains. */
const CLASS_OF_GRAINS = (() => {
  const out = new Uint8Array(MAX_BLOCK_BYTES / GRAIN + 1);
  for (let g = 0, c = 0; g < out.length; g++) {
    while (CLASS_BYTES[c]! < g * GRAIN) c++;
    out[g] = c;
  }
  return out;
})();

const P_INFO = 0,
  P_LIVE = 1,
  P_BUMP = 2,
  P_FREE = 3,
  P_NEXT = 4,
  P_PREV = 5;
/** Int32 words of a page's record in the page table. */
export const PAGE_WORDS = 6;
const G_HIGH = 0,
  G_RELEASES = 1,
  G_CURSOR = 2,
  G_MARK = 4; // and 5: one BigInt64
/** Int32 words of the heap's globals (8-byte aligned). */
export const HEAP_GLOBAL_WORDS = 6;

function classOf(bytes: number): number {
  return CLASS_OF_GRAINS[(bytes + GRAIN - 1) >> 4]!;
}

/** Heap bytes one entry of `bytes` takes, its share of a page included (the page cost: see the notes). */
export function entryCost(bytes: number): number {
  if (bytes <= MAX_BLOCK_BYTES) return PAGE_BYTES / PER_PAGE[classOf(bytes)]!;
  const tail = tailOf(bytes);
  return chainPages(bytes) * PAGE_BYTES + (tail === 0 ? 0 : entryCost(tail));
}

/** Whole pages of an entry of more than MAX_BLOCK_BYTES. */
function chainPages(bytes: number): number {
  const pages = Math.floor(bytes / PAGE_BYTES);
  return bytes - pages * PAGE_BYTES > MAX_BLOCK_BYTES ? pages + 1 : pages;
}

/** Bytes of such an entry in its tail block (0: none, the pages hold it all). */
function tailOf(bytes: number): number {
  return Math.max(0, bytes - chainPages(bytes) * PAGE_BYTES);
}

/** The size class of an entry of `bytes` (-1: longer than a block, it takes pages). */
export function entryClass(bytes: number): number {
  return bytes > MAX_BLOCK_BYTES ? -1 : classOf(bytes);
}

/** The number of classes an entry of at most `bytes` may use (the partial pages an owner may hold). */
export function classesUpTo(bytes: number): number {
  return bytes > MAX_BLOCK_BYTES ? CLASSES + 1 : classOf(bytes) + 1;
}

/** Where a heap lives in a region's Int32 view (word indexes) and Uint8 view (byte index). */
export interface HeapPlace {
  /** Word index of the page table (pages x PAGE_WORDS words). */
  readonly tableAt: number;
  /** Word index of the globals (HEAP_GLOBAL_WORDS words, 8-byte aligned). */
  readonly globalAt: number;
  /** Byte index of page 0 (4-byte aligned). */
  readonly dataAt: number;
  readonly pages: number;
}

/**
 * The heap of one table. Every method but the readers' (`copy`, `equals`)
 * runs under the lock of the owner it names.
 */
export class SlabHeap {
  private readonly tableAt: number;
  private readonly globalAt: number;
  /** Byte index of page 0 in `u8`. */
  readonly dataAt: number;
  readonly pages: number;
  private readonly bytes: number;

  constructor(
    private readonly i32: Int32Array,
    private readonly i64: BigInt64Array,
    private readonly u8: Uint8Array,
    place: HeapPlace,
  ) {
    this.tableAt = place.tableAt;
    this.globalAt = place.globalAt;
    this.dataAt = place.dataAt;
    this.pages = place.pages;
    this.bytes = place.pages * PAGE_BYTES;
  }

  /**
   * A block (or chain) for an entry of `bytes` bytes for `owner` (its lock
   * held; `heads` the word index of its HEADS): the entry's byte offset in
   * the heap, or -1 if the heap has no room.
   */
  alloc(owner: number, heads: number, bytes: number): number {
    return bytes > MAX_BLOCK_BYTES ? this.allocChain(owner, heads, bytes) : this.allocBlock(owner, heads, bytes);
  }

  private allocBlock(owner: number, heads: number, bytes: number): number {
    const i32 = this.i32;
    const c = classOf(bytes);
    let p = i32[heads + c]! - 1;
    if (p < 0) {
      p = this.take((owner + 1) * 256 + c);
      if (p < 0) return -1;
      const e = this.page(p);
      i32[e + P_LIVE] = i32[e + P_BUMP] = i32[e + P_FREE] = 0;
      this.link(heads + c, p);
    }
    const e = this.page(p);
    const size = CLASS_BYTES[c]!;
    let b = i32[e + P_FREE]! - 1;
    if (b >= 0) i32[e + P_FREE] = i32[(this.dataAt + p * PAGE_BYTES + b * size) >> 2]!;
    else i32[e + P_BUMP] = (b = i32[e + P_BUMP]!) + 1;
    const live = i32[e + P_LIVE]! + 1;
    i32[e + P_LIVE] = live;
    if (live === PER_PAGE[c]) this.unlink(heads + c, p);
    return p * PAGE_BYTES + b * size;
  }

  /** Frees the entry of `bytes` bytes at `at` (from `alloc`, under its owner's lock; `heads` the owner's HEADS). */
  free(heads: number, at: number, bytes: number): void {
    if (bytes <= MAX_BLOCK_BYTES) {
      this.freeBlock(heads, at);
      return;
    }
    const i32 = this.i32;
    let next = Math.floor(at / PAGE_BYTES) + 1;
    for (let k = chainPages(bytes); k > 0 && next > 0; k--) {
      const p = next - 1;
      next = i32[this.page(p) + P_NEXT]!;
      this.release(p);
    }
    if (next < 0) this.freeBlock(heads, (-next - 1) * GRAIN);
  }

  private freeBlock(heads: number, at: number): void {
    const i32 = this.i32;
    const p = Math.floor(at / PAGE_BYTES);
    const e = this.page(p);
    const c = i32[e + P_INFO]! & 255;
    const b = (at - p * PAGE_BYTES) / CLASS_BYTES[c]!;
    i32[(this.dataAt + at) >> 2] = i32[e + P_FREE]!;
    i32[e + P_FREE] = b + 1;
    const live = i32[e + P_LIVE]!;
    i32[e + P_LIVE] = live - 1;
    if (live === PER_PAGE[c]) this.link(heads + c, p); // it was full: it has room again
    // Empty: give it back, unless it is the class's only page with room (then keep it, so a key that
    // comes and goes does not take and give back a page each time; `trim` gives it back when the heap is full).
    if (live === 1 && (i32[heads + c] !== p + 1 || i32[e + P_NEXT] !== 0)) {
      this.unlink(heads + c, p);
      this.release(p);
    }
  }

  /** Gives back the empty pages `owner` keeps (its lock held; `heads` its HEADS); returns how many. */
  trim(heads: number): number {
    const i32 = this.i32;
    let n = 0;
    for (let c = 0; c < CLASSES; c++) {
      for (let p = i32[heads + c]! - 1; p >= 0;) {
        const next = i32[this.page(p) + P_NEXT]! - 1;
        if (i32[this.page(p) + P_LIVE] === 0) {
          this.unlink(heads + c, p);
          this.release(p);
          n++;
        }
        p = next;
      }
    }
    return n;
  }

  /**
   * Copies `n` bytes of the entry at `at` (of `bytes` bytes in all), from its
   * byte `from`, into `into` from 0. Plain reads: callers validate them.
   */
  copy(at: number, bytes: number, from: number, into: Uint8Array, n: number): void {
    if (bytes <= MAX_BLOCK_BYTES) {
      const base = this.dataAt + at + from;
      if (at < 0 || at + bytes > this.bytes) return; // a racing read's torn offset: the re-check fails
      if (n <= 64) for (let i = 0; i < n; i++) into[i] = this.u8[base + i]!;
      else into.set(this.u8.subarray(base, base + n));
      return;
    }
    this.runs(at, bytes, from, n, (done, base, m) => {
      into.set(this.u8.subarray(base, base + m), done);
      return true;
    });
  }

  /** True if `n` bytes of the entry at `at` (of `bytes` bytes), from its byte `from`, equal `other`'s first `n`. Plain reads, as `copy`. */
  equals(at: number, bytes: number, from: number, other: Uint8Array, n: number): boolean {
    const u8 = this.u8;
    if (bytes <= MAX_BLOCK_BYTES) {
      const base = this.dataAt + at + from;
      for (let i = 0; i < n; i++) if (u8[base + i] !== other[i]) return false;
      return true;
    }
    return this.runs(at, bytes, from, n, (done, base, m) => {
      for (let i = 0; i < m; i++) if (u8[base + i] !== other[done + i]) return false;
      return true;
    });
  }

  /** Writes `n` bytes of `from` into the entry at `at` (of `bytes` bytes), from its byte `to` (under the owner's lock). */
  write(at: number, bytes: number, to: number, from: Uint8Array, n: number): void {
    if (bytes <= MAX_BLOCK_BYTES) {
      const base = this.dataAt + at + to;
      if (n <= 64) for (let i = 0; i < n; i++) this.u8[base + i] = from[i]!;
      else this.u8.set(from.subarray(0, n), base);
      return;
    }
    this.runs(at, bytes, to, n, (done, base, m) => {
      this.u8.set(from.subarray(done, done + m), base);
      return true;
    });
  }

  /**
   * Visits the contiguous runs of bytes [from, from + n) of a chained entry
   * (its pages, then its tail block): `visit(done, byteIndex, length)`, until
   * it answers false; true if every run was visited. Bounded by the entry's
   * page count and the heap, so a racing read of a torn entry stays in bounds.
   */
  private runs(at: number, bytes: number, from: number, n: number, visit: (done: number, base: number, m: number) => boolean): boolean {
    const pages = chainPages(bytes);
    let next = Math.floor(at / PAGE_BYTES) + 1;
    let done = 0;
    for (let k = 0; k < pages; k++) {
      if (next <= 0 || next > this.pages) return false;
      const p = next - 1;
      next = this.i32[this.page(p) + P_NEXT]!;
      const lo = k * PAGE_BYTES;
      if (done < n && from + done < lo + PAGE_BYTES) {
        const start = from + done - lo;
        const m = Math.min(n - done, PAGE_BYTES - start);
        if (!visit(done, this.dataAt + p * PAGE_BYTES + start, m)) return false;
        done += m;
      }
    }
    if (done === n) return true;
    const tail = (-next - 1) * GRAIN;
    const start = from + done - pages * PAGE_BYTES;
    const m = n - done;
    if (next >= 0 || tail + start + m > this.bytes || start < 0) return false;
    return visit(done, this.dataAt + tail + start, m);
  }

  /**
   * Releases every page of `owner` (its lock held; `heads` its HEADS), or,
   * given `live`, rebuilds them from the entries it visits: the only blocks
   * in use are those (see Owner death in the notes).
   */
  rebuild(owner: number, heads: number, live?: (visit: (at: number, bytes: number) => void) => void): void {
    const i32 = this.i32;
    const high = Math.min(load(i32, this.globalAt + G_HIGH), this.pages);
    const mine = new Map<number, Uint8Array | boolean>(); // page -> blocks in use (a class page) or reached (a chain page)
    for (let p = 0; p < high; p++) {
      const info = load(i32, this.page(p) + P_INFO);
      if (info >> 8 !== owner + 1) continue;
      const c = info & 255;
      mine.set(p, c === CHAIN ? false : new Uint8Array(PER_PAGE[c]!));
    }
    const markBlock = (at: number): void => {
      const p = Math.floor(at / PAGE_BYTES);
      const marks = mine.get(p);
      if (marks instanceof Uint8Array) marks[(at - p * PAGE_BYTES) / CLASS_BYTES[i32[this.page(p) + P_INFO]! & 255]!] = 1;
    };
    live?.((at, bytes) => {
      if (bytes <= MAX_BLOCK_BYTES) {
        markBlock(at);
        return;
      }
      const p = Math.floor(at / PAGE_BYTES);
      let next = p + 1;
      for (let k = chainPages(bytes); k > 0 && next > 0 && mine.get(next - 1) === false; k--) {
        mine.set(next - 1, true);
        next = i32[this.page(next - 1) + P_NEXT]!;
      }
      if (next < 0) markBlock((-next - 1) * GRAIN);
    });
    i32.fill(0, heads, heads + CLASSES);
    for (const [p, marks] of mine) {
      if (!(marks instanceof Uint8Array)) {
        if (!marks) this.release(p);
        continue;
      }
      const e = this.page(p);
      const c = i32[e + P_INFO]! & 255;
      let used = 0;
      let free = 0;
      for (let b = marks.length - 1; b >= 0; b--) {
        if (marks[b] === 1) {
          used++;
          continue;
        }
        i32[(this.dataAt + p * PAGE_BYTES + b * CLASS_BYTES[c]!) >> 2] = free;
        free = b + 1;
      }
      if (used === 0) {
        this.release(p);
        continue;
      }
      i32[e + P_LIVE] = used;
      i32[e + P_BUMP] = marks.length;
      i32[e + P_FREE] = free;
      if (used < marks.length) this.link(heads + c, p);
    }
  }

  /** The page of `owner`'s size-class pages with the fewest blocks in use (-1 if it has none); reads every INFO word. */
  emptiestPage(owner: number): number {
    const i32 = this.i32;
    const high = Math.min(load(i32, this.globalAt + G_HIGH), this.pages);
    let best = -1;
    let fewest = Infinity;
    for (let p = 0; p < high; p++) {
      const info = i32[this.page(p) + P_INFO]!;
      if (info >> 8 !== owner + 1 || (info & 255) === CHAIN) continue;
      const live = i32[this.page(p) + P_LIVE]!;
      if (live < fewest) {
        best = p;
        fewest = live;
      }
    }
    return best;
  }

  /** Pages not FREE (taken by some owner), for diagnostics and tests: reads every INFO word. */
  pagesInUse(): number {
    let n = 0;
    const high = Math.min(load(this.i32, this.globalAt + G_HIGH), this.pages);
    for (let p = 0; p < high; p++) if (load(this.i32, this.page(p) + P_INFO) !== 0) n++;
    return n;
  }

  /** Pages for a chained entry, and its tail block (taken first: no page is taken for an entry whose tail finds no room). */
  private allocChain(owner: number, heads: number, bytes: number): number {
    const i32 = this.i32;
    const tailBytes = tailOf(bytes);
    const tail = tailBytes === 0 ? -1 : this.allocBlock(owner, heads, tailBytes);
    if (tailBytes !== 0 && tail < 0) return -1;
    let first = -1;
    let last = -1;
    for (let k = chainPages(bytes); k > 0; k--) {
      const p = this.take((owner + 1) * 256 + CHAIN);
      if (p < 0) {
        // Give back what was taken, through `free`'s own walk (it stops at the end of a shorter chain).
        if (last < 0) {
          if (tail >= 0) this.freeBlock(heads, tail);
        } else {
          if (tail >= 0) i32[this.page(last) + P_NEXT] = -(tail / GRAIN) - 1;
          this.free(heads, first * PAGE_BYTES, bytes);
        }
        return -1;
      }
      i32[this.page(p) + P_NEXT] = 0;
      if (last < 0) first = p;
      else i32[this.page(last) + P_NEXT] = p + 1;
      last = p;
    }
    if (tail >= 0) i32[this.page(last) + P_NEXT] = -(tail / GRAIN) - 1;
    return first * PAGE_BYTES;
  }

  /** Takes a FREE page for INFO `info`; -1 if none (see Taking a page). */
  private take(info: number): number {
    const registry = ThreadRegistry.current;
    const deaths = registry.deaths;
    const p = this.takeSeen(info, deaths);
    // Before refusing, learn of deaths not yet seen: a dead thread may have left a FREE page that MARK hides.
    return p >= 0 || registry.learnDeaths() === deaths ? p : this.takeSeen(info, registry.deaths);
  }

  private takeSeen(info: number, deaths: number): number {
    const i32 = this.i32;
    const g = this.globalAt;
    const releases = load(i32, g + G_RELEASES);
    mark[0] = releases;
    mark[1] = deaths;
    if (load64(this.i64, (g + G_MARK) >> 1) !== markWord[0]) {
      const high = Math.min(load(i32, g + G_HIGH), this.pages);
      let p = load(i32, g + G_CURSOR);
      for (let k = 0; k < high; k++, p++) {
        if (p >= high) p = 0;
        const e = this.page(p) + P_INFO;
        if (i32[e] === 0 && compareExchange(i32, e, 0, info) === 0) {
          store(i32, g + G_CURSOR, p + 1);
          return p;
        }
      }
      mark[0] = releases;
      mark[1] = deaths;
      store64(this.i64, (g + G_MARK) >> 1, markWord[0]!);
    }
    for (;;) {
      const high = load(i32, g + G_HIGH);
      if (high >= this.pages) return -1;
      if (compareExchange(i32, g + G_HIGH, high, high + 1) === high && compareExchange(i32, this.page(high) + P_INFO, 0, info) === 0) {
        return high;
      }
      // Another owner's look took the page we bumped past: bump again.
    }
  }

  private release(p: number): void {
    store(this.i32, this.page(p) + P_INFO, 0);
    add(this.i32, this.globalAt + G_RELEASES, 1);
  }

  /** Pushes page `p` onto the list headed at word `head`. */
  private link(head: number, p: number): void {
    const i32 = this.i32;
    const first = i32[head]!;
    i32[this.page(p) + P_NEXT] = first;
    i32[this.page(p) + P_PREV] = 0;
    if (first !== 0) i32[this.page(first - 1) + P_PREV] = p + 1;
    i32[head] = p + 1;
  }

  private unlink(head: number, p: number): void {
    const i32 = this.i32;
    const e = this.page(p);
    const prev = i32[e + P_PREV]!,
      next = i32[e + P_NEXT]!;
    if (prev !== 0) i32[this.page(prev - 1) + P_NEXT] = next;
    else i32[head] = next;
    if (next !== 0) i32[this.page(next - 1) + P_PREV] = prev;
  }

  private page(p: number): number {
    return this.tableAt + p * PAGE_WORDS;
  }
}

/** Scratch for MARK: [RELEASES, deaths] as one BigInt64. */
const mark = new Int32Array(2);
const markWord = new BigInt64Array(mark.buffer);
