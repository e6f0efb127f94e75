/**
 * The operating system's view of a thread, used as a liveness signal that
 * needs nothing from the thread's parent.
 *
 * Node has no API that says "worker N is alive" without the parent's event
 * loop ('exit' reaches a parent only when its loop runs; a parent blocked in
 * a wait or busy in a loop learns nothing). But every worker is an OS thread of
 * this process, and on Linux `/proc/self/task/<tid>` exists exactly while that
 * thread does (it disappears ~3 ms after `terminate()`). A thread reads its own
 * OS id once, at start, from `/proc/thread-self`; any thread can later test
 * that id synchronously in a few microseconds, even from inside a wait loop.
 * The start time (field 22 of `stat`) guards against OS id reuse.
 *
 * A thread that asks about another keeps its `comm` file open: the open file
 * belongs to that task, so a read fails (ESRCH) once the task has ended, even
 * if its id was reused meanwhile. A look is then one `pread` of the name
 * (about 1 µs hot; `stat`, which formats 52 fields, 2.5 µs; opening,
 * stat-ing, reading and closing each time was five system calls and about
 * 55 µs), which is what lets idle waiters check their holder each slice for
 * almost nothing. The first look compares the start time (read from `stat`
 * after the open), so a file is never kept on an id that was reused; a dead
 * task's file is closed.
 *
 * Elsewhere (no `/proc`), `identify()` returns undefined and sabre relies on
 * the 'exit' events alone.
 */
import { closeSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs';

export interface OsThreadIdentity {
  readonly tid: number;
  /** Start time in clock ticks since boot, truncated to 31 bits. */
  readonly start: number;
}

/** The start time in a `stat` line (field 22; the command name before it may hold spaces and parentheses). */
function startIn(stat: string): number | undefined {
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return start === undefined || !/^\d+$/.test(start) ? undefined : Number(BigInt(start) & 0x7fffffffn);
}

function startOf(tid: number): number | undefined {
  try {
    return startIn(readFileSync(`/proc/self/task/${tid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** This thread's OS identity, or undefined where `/proc` is not available. */
export function identify(): OsThreadIdentity | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return undefined;
    const start = startOf(tid);
    return start === undefined ? undefined : { tid, start };
  } catch {
    return undefined;
  }
}

/** Open `comm` files of the threads this thread has asked about, by tid, with the start time they were opened for. */
const open = new Map<number, { fd: number; start: number }>();
const oneByte = Buffer.alloc(1);

/** True while the OS thread with this identity exists (synchronous, one read of a kept-open file). */
export function osThreadAlive(id: OsThreadIdentity): boolean {
  const known = open.get(id.tid);
  if (known?.start === id.start) {
    try {
      readSync(known.fd, oneByte, 0, 1, 0);
      return true;
    } catch {
      forget(id.tid);
      return false; // ESRCH: the task this file belongs to has ended
    }
  }
  if (known !== undefined) forget(id.tid); // kept for another thread that had this tid: it ended
  let fd: number;
  try {
    // `comm`: a read of it is a copy of the name (about 1 µs), where `stat` formats 52 fields (2.5 µs,
    // and more on a cold cache); every tick of a thread with async waiters makes one such look.
    fd = openSync(`/proc/self/task/${id.tid}/comm`, 'r');
  } catch {
    return false; // no such task
  }
  // The file now pins the task that had this tid when it was opened. The one asked about registered
  // before this call, so if the start time read after the open is its own, it had the tid all along
  // and the file pins it; had it ended in between (the tid reused), the start read is a newcomer's.
  const start = startOf(id.tid);
  if (start !== id.start) {
    closeSync(fd);
    return false; // ended between the two steps, or a reused id
  }
  open.set(id.tid, { fd, start });
  return true;
}

function forget(tid: number): void {
  const known = open.get(tid);
  if (known === undefined) return;
  open.delete(tid);
  try {
    closeSync(known.fd);
  } catch {
    // already closed: nothing to give back
  }
}
