/**
 * The one thin adapter between sabre and a Redis client: a connected
 * `ioredis` client (or Cluster) or a `node-redis` (`redis` / `@redis/client`)
 * client, over RESP2 or RESP3. Everything sabre sends is a script call
 * (`EVALSHA`, with `EVAL` when the server answers NOSCRIPT: after a restart
 * or a `SCRIPT FLUSH`), so the adapter needs one thing of a client: send a
 * command and get its reply.
 *
 * Replies: sabre's scripts return only integers, bulk strings, nil and flat
 * arrays of them, which both clients decode alike over both protocols
 * (integers as numbers, strings as strings, nil as null). Bytes travel as
 * base64 text, so no client's string decoding can alter them.
 *
 * Every call has a deadline (`commandTimeoutMs`): a call that is not answered in
 * time, or that fails because the server cannot be reached (connection
 * refused or closed, the client closed, the server loading, busy or
 * read-only), rejects with `UnavailableError`. A call that timed out may
 * still run on the server later: each script is written so that running it
 * late does no harm the caller was not told about (a limiter's late
 * decision spends tokens nobody used: it errs toward refusing; a late
 * `begin` takes a key with a lease that lapses).
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, UnavailableError } from '../errors.js';
import { describeValue } from '../validate.js';
import { DeadlineQueue } from '../resilience/call-timeouts.js';

/** An argument of a command. */
export type RedisArg = string | Buffer;

/** A connected `ioredis` client or Cluster (`call`), or a `node-redis` client (`sendCommand`). */
export type RedisClientLike = { call(...args: never[]): unknown } | { sendCommand(...args: never[]): unknown };

/** What the scripts need of a client: one command, its reply. */
type Send = (args: RedisArg[]) => Promise<unknown>;

function sendOf(client: unknown, name: string): Send {
  const c = client as {
    call?: (command: string, ...args: RedisArg[]) => Promise<unknown>;
    callBuffer?: unknown;
    sendCommand?: (args: RedisArg[]) => Promise<unknown>;
  } | null;
  if (typeof c === 'object' && c !== null) {
    // ioredis (its own sendCommand takes a Command object: `call` first).
    if (typeof c.call === 'function' && typeof c.callBuffer === 'function') {
      const call = c.call.bind(c);
      return (args) => call(...(args as [string, ...RedisArg[]]));
    }
    if (typeof c.sendCommand === 'function') {
      const sendCommand = c.sendCommand.bind(c);
      return (args) => sendCommand(args);
    }
  }
  throw new InvalidArgumentError(
    `${name} must be a connected ioredis client or Cluster, or a node-redis client (createClient from 'redis' or '@redis/client'), got ${describeValue(client)}`,
  );
}

/** Server answers that mean "not now" rather than "wrong": the call may work later. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|NOREPLICAS|OOM)\b/;

/**
 * True if `e` is the server's answer to a command (a reply error), as the
 * clients mark it: ioredis's ReplyError, node-redis's ErrorReply and
 * SimpleError (whose `name` is plain 'Error': its class tells).
 */
function isReply(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const names = [e.name, e.constructor.name];
  return names.some((n) => n === 'ReplyError' || n === 'ErrorReply' || n === 'SimpleError');
}

/** What a failed call rejects with: a script's own error as it is (a bug, not an outage), anything else as UnavailableError. */
function outage(e: unknown): unknown {
  if (e instanceof UnavailableError) return e;
  if (isReply(e) && !TRANSIENT_REPLY.test((e as Error).message)) return e;
  return new UnavailableError(`Redis could not be reached: ${e instanceof Error ? e.message : String(e)}`, e);
}

/** A Lua script, run by its SHA-1 (`EVALSHA`) and sent whole only when the server does not have it. */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** A call in flight: settled by its reply, or rejected at its deadline. */
interface PendingCall {
  deadline: number;
  done: boolean;
  reject: (e: unknown) => void;
}

/**
 * A client with a deadline per call: what every Redis-backed primitive
 * holds. `commandTimeoutMs` bounds each call (default 1,000 ms). The calls
 * in flight wait in one DeadlineQueue (one timer for the earliest deadline,
 * as the breaker's call timeouts): a timer per call would cost more than
 * the rest of a decision.
 */
export class RedisConnection {
  private readonly send: Send;
  private readonly deadlines: DeadlineQueue<PendingCall>;

  constructor(
    client: unknown,
    readonly commandTimeoutMs: number,
    name = 'client',
  ) {
    this.send = sendOf(client, name);
    this.deadlines = new DeadlineQueue<PendingCall>(commandTimeoutMs, (call) =>
      call.reject(new UnavailableError(`Redis did not answer within commandTimeoutMs = ${commandTimeoutMs} ms`)),
    );
  }

  /**
   * Runs `script` on `keys` (which must share a hash tag) with `args`.
   * @throws UnavailableError when the server cannot answer in time
   */
  run(script: Script, keys: readonly RedisArg[], args: readonly RedisArg[]): Promise<unknown> {
    const head = [String(keys.length), ...keys, ...args];
    return this.deadline(async () => {
      try {
        return await this.send(['EVALSHA', script.sha, ...head]);
      } catch (e) {
        if (!isReply(e) || !/^NOSCRIPT\b/.test((e as Error).message)) throw e;
        return this.send(['EVAL', script.source, ...head]); // loads it too: the next EVALSHA finds it
      }
    });
  }

  /** `call()`, rejected with UnavailableError at the deadline or when the server cannot be reached. */
  private deadline<T>(call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = { deadline: 0, done: false, reject };
      this.deadlines.add(pending);
      const settled = (): boolean => this.deadlines.finish(pending); // false once the deadline has rejected it
      let sent: Promise<T>;
      try {
        sent = call();
      } catch (e) {
        sent = Promise.reject(e);
      }
      sent.then(
        (value) => {
          if (settled()) resolve(value);
        },
        (e: unknown) => {
          if (settled()) reject(outage(e));
        },
      );
    });
  }
}
