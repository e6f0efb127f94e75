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
 * Elsewhere (no `/proc`), `identify()` returns undefined and sabre relies on
 * the 'exit' events alone.
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';

export interface OsThreadIdentity {
  readonly tid: number;
  /** Start time in clock ticks since boot, truncated to 31 bits. */
  readonly start: number;
}

function startOf(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces) start at field 3.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start === undefined ? undefined : Number(BigInt(start) & 0x7fffffffn);
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

/** True while the OS thread with this identity exists (synchronous, a few µs). */
export function osThreadAlive(id: OsThreadIdentity): boolean {
  if (!existsSync(`/proc/self/task/${id.tid}`)) return false;
  const start = startOf(id.tid);
  // A vanished stat between the two reads is a death; a different start is a reused id.
  return start !== undefined && start === id.start;
}
