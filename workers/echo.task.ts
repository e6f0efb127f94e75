/**
 * A Piscina task used by tests and examples: it re-opens the primitives it is
 * given (`fromTaskArgs`) and does one small thing with them, named by `op`.
 */
import { threadId } from 'node:worker_threads';
import { CircuitOpenError, OwnerDiedError } from '../src/errors.js';
import { fromTaskArgs, type TaskArgs } from '../src/integrations/piscina.js';
import type { Mutex } from '../src/sync/mutex.js';

export type EchoRequest =
  /** Re-opens every handle in `args`; answers with each value's class name (or typeof). */
  | { op: 'describe'; args: Record<string, unknown> }
  /** Throws the named error. */
  | { op: 'throw'; error: 'OwnerDiedError' | 'CircuitOpenError' | 'TypeError'; message: string }
  /** Locks `args.mutex` and returns, still holding it. */
  | { op: 'lock'; args: TaskArgs<{ mutex: Mutex }> }
  /** Ends this worker thread with `process.exit(code)`. */
  | { op: 'exit'; code: number }
  /** Answers with this worker's threadId. */
  | { op: 'threadId' };

export interface EchoReply {
  readonly threadId: number;
  readonly described?: Record<string, string>;
  readonly values?: Record<string, unknown>;
}

export default function echo(request: EchoRequest): EchoReply {
  switch (request.op) {
    case 'describe': {
      const live = fromTaskArgs<Record<string, unknown>>(request.args);
      const described: Record<string, string> = {};
      const values: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(live)) {
        described[key] = typeof value === 'object' && value !== null ? value.constructor.name : typeof value;
        if (typeof value !== 'object' || value === null) values[key] = value;
      }
      return { threadId, described, values };
    }
    case 'throw':
      if (request.error === 'OwnerDiedError') throw new OwnerDiedError(request.message, { ownerThreadId: 7 });
      if (request.error === 'CircuitOpenError') throw new CircuitOpenError(request.message, { retryAfterMs: 1234 });
      throw new TypeError(request.message);
    case 'lock':
      fromTaskArgs<{ mutex: Mutex }>(request.args).mutex.lock();
      return { threadId };
    case 'exit':
      process.exit(request.code);
    // falls through (process.exit does not return)
    case 'threadId':
      return { threadId };
  }
}
