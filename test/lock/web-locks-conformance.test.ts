/**
 * Conformance to the Web Locks API (https://w3c.github.io/web-locks/), one
 * test per normative statement that can be tested outside a browser, each
 * named for it (§ names the spec's section or algorithm step; "WebIDL" the
 * binding rules the spec's IDL implies). Written from the spec's text.
 *
 * Every case runs against each implementation: sabre's `LockManager`, and
 * Node's own `worker_threads.locks` (Node 24.5+; its cases are skipped, and
 * say so in their names, on a Node without it). Where Node disagrees with
 * the spec, its case is a known Node deviation: `it.fails` for Node only
 * (`NODE_DEVIATIONS` names the spec step), so it starts failing the day
 * Node conforms.
 *
 * Cases that need a second agent (a lock held in a worker, a terminated
 * worker) use `workers/fixtures/web-locks.ts`, which requests on the same manager.
 * Waits are conditions (a handshake: the callback ran; a `query()` state),
 * never fixed sleeps.
 */
import { execFile } from 'node:child_process';
import * as workerThreads from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LockManager } from '../../src/lock/lock-manager.js';
import { Remote } from '../threads/remote.js';
import type { Failure, Granted, Outcome, Target } from '../../workers/fixtures/web-locks.js';

interface LockLike {
  readonly name: string;
  readonly mode: string;
}
interface Info {
  readonly name: string;
  readonly mode: string;
  readonly clientId: string;
}
interface Snapshot {
  readonly held: Info[];
  readonly pending: Info[];
}
/** The Web Locks `LockManager` interface, loosely typed: the cases pass what the IDL does not allow. */
interface WebLocks {
  request(...args: unknown[]): Promise<unknown>;
  query(): Promise<Snapshot>;
}

interface Impl {
  readonly label: string;
  /** Why its cases are skipped, if they are. */
  readonly missing?: string;
  readonly locks: () => WebLocks;
  readonly target: () => Target;
}

const nodeLocks = (workerThreads as unknown as { locks?: WebLocks }).locks;
let sabreManager: LockManager | undefined;
const sabre = () => (sabreManager ??= new LockManager({ capacity: 256, maxKeyBytes: 512 }));

const IMPLS: Impl[] = [
  { label: "sabre's LockManager", locks: () => sabre(), target: () => ({ impl: 'sabre', handle: sabre().handle }) },
  {
    label: "Node's worker_threads.locks",
    ...(nodeLocks === undefined ? { missing: `skipped: Node ${process.version} has no worker_threads.locks (added in 24.5)` } : {}),
    locks: () => nodeLocks!,
    target: () => ({ impl: 'node' }),
  },
];

/**
 * Where Node's own implementation (checked on 24.22) disagrees with the
 * spec: case id → the spec step it breaks. These cases are `it.fails` for
 * Node only.
 */
const NODE_DEVIATIONS: Readonly<Record<string, string>> = {
  'args.three': 'WebIDL overload resolution: with 3 arguments the third is the callback; Node accepts request(name, callback, undefined)',
  'nse.before-abort': '§ request() steps 5-9: Node checks the aborted signal before the NotSupportedError checks',
  'callback.later':
    '§ process the lock request queue: the callback is invoked from steps enqueued on the event loop; Node calls it inside request() when the lock is free',
  'released.throw-releases':
    '§ waiting promise settles: a callback that throws yields a rejected waiting promise, whose settling releases the lock; Node keeps the lock held',
  'abort.queued': '§ abort the request: the request is removed from the queue; Node leaves it there (and grants it later)',
  'abort.next': '§ abort the request: the queue is processed after the removal; Node does not, so the requests behind wait',
  'query.member-order':
    'WebIDL dictionary → JS value: LockInfo members are created in lexicographic order (clientId, mode, name); Node makes { name, mode, clientId }',
  'query.agents':
    "§ snapshot the lock state: the snapshot covers the lock manager's whole state; Node lists only the calling thread's locks and requests",
  'agents.terminate-held':
    "§ terminate remaining locks and requests: release the lock (which processes the queue); Node does not grant a request waiting for a terminated worker's lock until something else moves the queue",
  'agents.steal':
    '§ request a lock (steal) of a lock held by another thread: Node 24 aborts the process (FATAL ERROR in LockManager::ProcessQueue)',
};

/**
 * Where sabre differs from the spec on purpose: case id → why. These cases
 * are `it.fails` for sabre, and a sabre-only test below pins what it does
 * instead.
 */
const SABRE_DIFFERENCES: Readonly<Record<string, string>> = {
  'options.unknown':
    "sabre's rule for every options object: an unknown member is a TypeError that names it (a misspelled ifAvaliable would otherwise silently request a waiting lock)",
};

// ---- helpers -------------------------------------------------------------------

let seq = 0;
/** A name no other case uses (Node's manager is one per process). */
const fresh = (what: string) => `conformance-${what}-${++seq}`;
const tick = () => new Promise((r) => setImmediate(r));
/** Waits (polling, no fixed sleep) until `predicate` holds; fails after `timeout` ms. */
const until = (predicate: () => boolean | Promise<boolean>, timeout = 10_000) =>
  vi.waitFor(async () => expect(await predicate()).toBe(true), { timeout, interval: 5 });

async function rejection(p: unknown): Promise<unknown> {
  expect(p).toBeInstanceOf(Promise);
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, got a fulfilment');
}
const isDOMException = (e: unknown, name: string) => e instanceof DOMException && e.name === name;
const expectTypeError = async (p: unknown) => expect(await rejection(p)).toBeInstanceOf(TypeError);
const expectDOMException = async (p: unknown, name: string) => {
  const e = await rejection(p);
  expect(isDOMException(e, name), `expected a "${name}" DOMException, got ${String(e)}`).toBe(true);
};

/** A request holding `name` until `release()`; `granted` resolves with what the callback received. */
function hold(locks: WebLocks, name: string, options: object = {}) {
  let release!: (v?: unknown) => void;
  let fail!: (e: unknown) => void;
  let onGrant!: (l: LockLike | null) => void;
  let lock: LockLike | null | undefined;
  const granted = new Promise<LockLike | null>((r) => (onGrant = r));
  const body = new Promise((resolve, reject) => ((release = resolve), (fail = reject)));
  const done = locks.request(name, options, (l: LockLike | null) => ((lock = l), onGrant(l), body));
  done.catch(() => {}); // observed by the cases that care
  return {
    done,
    granted,
    release,
    fail,
    get isGranted() {
      return lock !== undefined;
    },
  };
}

/** The part of a snapshot about `name`, as "mode" strings. */
async function stateOf(locks: WebLocks, name: string) {
  const s = await locks.query();
  return {
    held: s.held.filter((i) => i.name === name).map((i) => i.mode),
    pending: s.pending.filter((i) => i.name === name).map((i) => i.mode),
  };
}
/** True when a request for `name` would be granted at once (an ifAvailable probe that releases at once). */
const available = (locks: WebLocks, name: string, mode = 'exclusive') =>
  locks.request(name, { mode, ifAvailable: true }, (l: unknown) => l !== null) as Promise<boolean>;

const never = () => {
  throw new Error('this callback must not run');
};

/**
 * The cross-thread steal case on Node's own implementation, in a child
 * process (it aborts the process on Node 24): a worker holds a lock, the
 * main thread steals it; prints how the worker's request ended.
 */
const STEAL_SCRIPT = `
import { Worker, locks } from 'node:worker_threads';
const worker = new Worker(\`
  const { locks, parentPort } = require('node:worker_threads');
  locks.request('steal-me', () => { parentPort.postMessage('held'); return new Promise(() => {}); }).then(
    () => parentPort.postMessage('fulfilled'),
    (e) => parentPort.postMessage(e instanceof DOMException ? 'DOMException ' + e.name : 'other ' + String(e)));
\`, { eval: true });
const next = () => new Promise((resolve) => worker.once('message', resolve));
await next();
const outcome = next();
await locks.request('steal-me', { steal: true }, () => {});
console.log(await outcome);
await worker.terminate();
`;
function stealInChildProcess(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', STEAL_SCRIPT], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(
            `the child process failed (${error.message.split('\n')[0]}): ${stderr.split('\n').find((l) => /FATAL|Error/.test(l)) ?? ''}`,
          ),
        );
      else resolve(stdout.trim());
    });
  });
}

// ---- workers -------------------------------------------------------------------

const startWorker = () => Remote.start('web-locks', { workerData: { mark: 'sabre.test.web-locks' } });
let w1: Remote;
let w2: Remote;
beforeAll(async () => {
  [w1, w2] = await Promise.all([startWorker(), startWorker()]);
});
afterAll(async () => {
  await Promise.all([w1?.stop(), w2?.stop()]);
});

// ---- the cases -----------------------------------------------------------------

for (const impl of IMPLS) {
  describe.skipIf(impl.missing !== undefined)(`Web Locks conformance: ${impl.label}${impl.missing ? ` (${impl.missing})` : ''}`, () => {
    const isNode = impl.target().impl === 'node';
    /** A case; for Node, `it.fails` when it is a known deviation. */
    const spec = (id: string, title: string, body: (locks: WebLocks) => Promise<void>) => {
      const deviation = isNode ? NODE_DEVIATIONS[id] : undefined;
      const difference = isNode ? undefined : SABRE_DIFFERENCES[id];
      if (deviation !== undefined) it.fails(`${title} [known Node deviation: ${deviation}]`, () => body(impl.locks()));
      else if (difference !== undefined) it.fails(`${title} [sabre's deliberate difference: ${difference}]`, () => body(impl.locks()));
      else it(title, () => body(impl.locks()));
    };

    describe('request(): WebIDL argument conversion', () => {
      spec('args.count', 'WebIDL overloads: fewer than 2 arguments reject with TypeError', async (locks) => {
        await expectTypeError(locks.request());
        await expectTypeError(locks.request(fresh('count')));
      });

      spec(
        'args.two',
        'WebIDL overloads: with exactly 2 arguments the second is the callback (options there: TypeError)',
        async (locks) => {
          await expectTypeError(locks.request(fresh('two'), { mode: 'shared' }));
        },
      );

      spec('args.three', 'WebIDL overloads: with 3 arguments the third is the callback, even when undefined (TypeError)', async (locks) => {
        let ran = false;
        await expectTypeError(locks.request(fresh('three'), () => (ran = true), undefined));
        expect(ran).toBe(false);
      });

      spec(
        'callback.callable',
        'WebIDL callback function: a callback that is not callable rejects with TypeError, and nothing is requested',
        async (locks) => {
          const name = fresh('callable');
          for (const bad of [42, 'cb', {}, null, undefined]) await expectTypeError(locks.request(name, {}, bad));
          expect(await stateOf(locks, name)).toEqual({ held: [], pending: [] });
        },
      );

      spec('name.tostring', 'WebIDL DOMString: the name is converted with ToString', async (locks) => {
        const obj = { toString: () => fresh('obj') };
        for (const [raw, name] of [
          [42, '42'],
          [undefined, 'undefined'],
          [null, 'null'],
          [true, 'true'],
        ] as const) {
          expect(await locks.request(raw, (l: LockLike) => l.name)).toBe(name);
        }
        const got = await locks.request(obj, (l: LockLike) => l.name);
        expect(got).toMatch(/^conformance-obj-/);
      });

      spec('name.symbol', 'WebIDL DOMString: a Symbol name rejects with TypeError', async (locks) => {
        await expectTypeError(locks.request(Symbol('s'), never));
      });

      spec('name.throws', "WebIDL DOMString: an exception from the name's toString rejects the request", async (locks) => {
        const boom = new Error('toString failed');
        expect(
          await rejection(
            locks.request(
              {
                toString: () => {
                  throw boom;
                },
              },
              never,
            ),
          ),
        ).toBe(boom);
      });

      spec('options.nullish', 'WebIDL dictionary: undefined or null options mean all defaults (exclusive)', async (locks) => {
        expect(await locks.request(fresh('undef'), undefined, (l: LockLike) => l.mode)).toBe('exclusive');
        expect(await locks.request(fresh('null'), null, (l: LockLike) => l.mode)).toBe('exclusive');
      });

      spec('options.type', 'WebIDL dictionary: options that are not an object reject with TypeError', async (locks) => {
        for (const bad of ['shared', 42, true]) await expectTypeError(locks.request(fresh('opt-type'), bad, never));
      });

      spec('options.unknown', 'WebIDL dictionary: members the dictionary does not declare are ignored', async (locks) => {
        expect(
          await locks.request(fresh('unknown'), { mode: 'shared', ifAvaliable: true, priority: 'high' }, (l: LockLike) => l.mode),
        ).toBe('shared');
      });

      if (!isNode) {
        it('sabre: an unknown member is a TypeError that names it and the member meant; nothing is requested', async () => {
          const locks = impl.locks();
          const name = fresh('unknown-sabre');
          const e = await rejection(locks.request(name, { ifAvaliable: true }, never));
          expect(e).toBeInstanceOf(TypeError);
          expect((e as Error).message).toMatch(/unknown option "ifAvaliable"; did you mean "ifAvailable"\?/);
          expect((await locks.query()).held.concat((await locks.query()).pending).some((l) => l.name === name)).toBe(false);
        });
      }

      spec('options.inherited', 'WebIDL dictionary: members are read with [[Get]], so an inherited member counts', async (locks) => {
        expect(await locks.request(fresh('inherited'), Object.create({ mode: 'shared' }), (l: LockLike) => l.mode)).toBe('shared');
      });

      spec(
        'options.order',
        'WebIDL dictionary: each member is read once, in lexicographic order (ifAvailable, mode, signal, steal)',
        async (locks) => {
          const reads: string[] = [];
          const options = {};
          for (const key of ['steal', 'signal', 'mode', 'ifAvailable']) {
            Object.defineProperty(options, key, { get: () => (reads.push(key), undefined), enumerable: true });
          }
          await locks.request(fresh('order'), options, () => {});
          expect(reads).toEqual(['ifAvailable', 'mode', 'signal', 'steal']);
        },
      );

      spec('mode.default', 'LockOptions: mode defaults to "exclusive"', async (locks) => {
        expect(await locks.request(fresh('mode-default'), {}, (l: LockLike) => l.mode)).toBe('exclusive');
        expect(await locks.request(fresh('mode-undef'), { mode: undefined }, (l: LockLike) => l.mode)).toBe('exclusive');
      });

      spec('mode.enum', 'WebIDL enum: a mode other than "shared" or "exclusive" rejects with TypeError (case matters)', async (locks) => {
        for (const bad of ['foo', 'SHARED', 'Exclusive', '', 'shared '])
          await expectTypeError(locks.request(fresh('enum'), { mode: bad }, never));
      });

      spec('mode.null', 'WebIDL enum: mode null is converted to "null" and rejects with TypeError', async (locks) => {
        await expectTypeError(locks.request(fresh('mode-null'), { mode: null }, never));
      });

      spec('mode.tostring', 'WebIDL enum: the mode is converted with ToString before the check', async (locks) => {
        expect(await locks.request(fresh('mode-obj'), { mode: { toString: () => 'shared' } }, (l: LockLike) => l.mode)).toBe('shared');
      });

      spec('bool.tobool', 'WebIDL boolean: ifAvailable and steal are converted with ToBoolean', async (locks) => {
        const name = fresh('tobool');
        const h = hold(locks, name);
        await h.granted;
        expect(await locks.request(name, { ifAvailable: 1 }, (l: unknown) => l)).toBe(null); // 1: true
        const waiting = hold(locks, name, { ifAvailable: 0, steal: '' }); // both false: an ordinary request, queued
        expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['exclusive'] });
        expect(await locks.request(name, { steal: 'yes' }, (l: LockLike) => l.mode)).toBe('exclusive'); // 'yes': true
        await expectDOMException(h.done, 'AbortError');
        await waiting.granted;
        waiting.release();
        await waiting.done;
      });

      spec('signal.type', 'WebIDL interface type: a signal that is not an AbortSignal rejects with TypeError', async (locks) => {
        for (const bad of ['signal', 12.34, false, {}, Symbol('s'), () => {}, null, new AbortController()]) {
          await expectTypeError(locks.request(fresh('signal-type'), { signal: bad }, never));
        }
      });

      spec('signal.undefined', 'WebIDL dictionary: signal undefined is absent (so it may go with steal or ifAvailable)', async (locks) => {
        expect(await locks.request(fresh('sig-undef'), { signal: undefined, steal: true }, (l: LockLike) => l.mode)).toBe('exclusive');
        expect(await locks.request(fresh('sig-undef'), { signal: undefined, ifAvailable: true }, (l: unknown) => l !== null)).toBe(true);
      });

      spec(
        'errors.async',
        'WebIDL promise-returning operation: every error is a rejected promise, never a synchronous throw',
        async (locks) => {
          const calls: (() => unknown)[] = [
            () => locks.request(),
            () => locks.request(Symbol('s'), never),
            () => locks.request('-x', never),
            () => locks.request(fresh('async'), { steal: true, ifAvailable: true }, never),
            () => locks.request(fresh('async'), { signal: AbortSignal.abort() }, never),
          ];
          for (const call of calls) {
            let result: unknown;
            expect(() => (result = call())).not.toThrow();
            await rejection(result);
          }
        },
      );

      spec(
        'conversions.first',
        'WebIDL conversions come before the method steps: a bad argument is a TypeError even when a NotSupportedError would follow',
        async (locks) => {
          await expectTypeError(locks.request('-x', { mode: 'bad' }, never));
          await expectTypeError(locks.request(fresh('first'), { steal: true, ifAvailable: true }, 42));
          await expectTypeError(locks.request(fresh('first'), { signal: AbortSignal.abort(), mode: 'bad' }, never));
        },
      );

      spec('idl.length', 'WebIDL operations: request.length is 2 (its shortest overload) and query.length is 0', async (locks) => {
        expect([locks.request.length, locks.query.length]).toEqual([2, 0]);
      });
    });

    describe('request(): the method steps', () => {
      spec(
        'name.reserved',
        '§ request() step 5: a name starting with "-" rejects with NotSupportedError; a "-" elsewhere is fine',
        async (locks) => {
          await expectDOMException(locks.request('-', never), 'NotSupportedError');
          await expectDOMException(locks.request('-foo', never), 'NotSupportedError');
          expect(await locks.request(fresh('x-anything'), (l: LockLike) => l.name)).toMatch(/^conformance-x-anything-/);
        },
      );

      spec('steal.ifAvailable', '§ request() step 6: steal with ifAvailable rejects with NotSupportedError', async (locks) => {
        await expectDOMException(locks.request(fresh('nse'), { steal: true, ifAvailable: true }, never), 'NotSupportedError');
      });

      spec('steal.shared', '§ request() step 7: steal with mode "shared" rejects with NotSupportedError', async (locks) => {
        await expectDOMException(locks.request(fresh('nse'), { steal: true, mode: 'shared' }, never), 'NotSupportedError');
      });

      spec(
        'signal.conflicts',
        '§ request() step 8: a signal with steal or with ifAvailable rejects with NotSupportedError',
        async (locks) => {
          const signal = new AbortController().signal;
          await expectDOMException(locks.request(fresh('nse'), { signal, steal: true }, never), 'NotSupportedError');
          await expectDOMException(locks.request(fresh('nse'), { signal, ifAvailable: true }, never), 'NotSupportedError');
        },
      );

      spec(
        'nse.before-abort',
        '§ request() steps 5-9: the NotSupportedError checks come before the aborted-signal check',
        async (locks) => {
          const signal = AbortSignal.abort(new Error('reason'));
          await expectDOMException(locks.request('-x', { signal }, never), 'NotSupportedError');
          await expectDOMException(locks.request(fresh('order'), { signal, ifAvailable: true }, never), 'NotSupportedError');
        },
      );

      spec(
        'aborted.reason',
        '§ request() step 9: an already aborted signal rejects with its abort reason itself, and nothing is requested',
        async (locks) => {
          const name = fresh('aborted');
          for (const reason of [new Error('mine'), 'a string', 42, { why: 'object' }]) {
            expect(await rejection(locks.request(name, { signal: AbortSignal.abort(reason) }, never))).toBe(reason);
          }
          expect(await stateOf(locks, name)).toEqual({ held: [], pending: [] });
          expect(await available(locks, name)).toBe(true);
        },
      );

      spec('aborted.default', '§ request() step 9: an abort without a reason rejects with an "AbortError" DOMException', async (locks) => {
        await expectDOMException(locks.request(fresh('aborted'), { signal: AbortSignal.abort() }, never), 'AbortError');
      });
    });

    describe('Lock and the callback', () => {
      spec('lock.attrs', "§ Lock: the callback gets a Lock whose name and mode are the request's", async (locks) => {
        const name = fresh('attrs');
        expect(await locks.request(name, (l: LockLike) => [l.name, l.mode])).toEqual([name, 'exclusive']);
        expect(await locks.request(name, { mode: 'shared' }, (l: LockLike) => [l.name, l.mode])).toEqual([name, 'shared']);
      });

      spec(
        'lock.interface',
        '§ Lock IDL: name and mode are readonly attributes (enumerable accessors on the prototype, no setter); the class string is "Lock"',
        async (locks) => {
          const lock = (await locks.request(fresh('iface'), (l: LockLike) => l)) as LockLike;
          const proto = Object.getPrototypeOf(lock) as object;
          for (const key of ['name', 'mode']) {
            const d = Object.getOwnPropertyDescriptor(proto, key)!;
            expect([typeof d.get, typeof d.set, d.enumerable, d.configurable]).toEqual(['function', 'undefined', true, true]);
            expect(Object.getOwnPropertyDescriptor(lock, key)).toBeUndefined();
          }
          const before = lock.name;
          expect(() => ((lock as { name: string }).name = 'changed')).toThrow(TypeError); // strict code: no setter
          expect(lock.name).toBe(before);
          expect(Object.prototype.toString.call(lock)).toBe('[object Lock]');
        },
      );

      spec('lock.fresh', '§ process the lock request queue: each grant passes a new Lock object', async (locks) => {
        const name = fresh('new-lock');
        const a = await locks.request(name, (l: unknown) => l);
        const b = await locks.request(name, (l: unknown) => l);
        expect(a).not.toBe(b);
      });

      spec('callback.this', 'WebIDL invoke a callback function: this is undefined and the Lock is the only argument', async (locks) => {
        const seen = await locks.request(fresh('this'), function (this: unknown, ...args: unknown[]) {
          return { self: this, count: args.length };
        });
        expect(seen).toEqual({ self: undefined, count: 1 });
      });

      spec(
        'callback.later',
        '§ process the lock request queue: the callback runs in a later task, never inside request()',
        async (locks) => {
          let ran = false;
          const p = locks.request(fresh('later'), () => void (ran = true));
          expect(ran).toBe(false);
          await p;
          expect(ran).toBe(true);
        },
      );

      spec('released.value', "§ waiting promise settles: the request's promise resolves with the callback's result", async (locks) => {
        const name = fresh('value');
        expect(await locks.request(name, () => 'sync value')).toBe('sync value');
        expect(await locks.request(name, async () => (await tick(), 'async value'))).toBe('async value');
        expect(await locks.request(name, () => undefined)).toBe(undefined);
      });

      spec('released.thenable', '§ waiting promise: a thenable the callback returns is adopted', async (locks) => {
        const thenable = { then: (resolve: (v: string) => void) => setImmediate(() => resolve('from thenable')) };
        expect(await locks.request(fresh('thenable'), () => thenable)).toBe('from thenable');
      });

      spec('released.throw', 'WebIDL invoke: a callback that throws rejects the request with what it threw', async (locks) => {
        const boom = new Error('sync throw');
        expect(
          await rejection(
            locks.request(fresh('throw'), () => {
              throw boom;
            }),
          ),
        ).toBe(boom);
      });

      spec(
        'released.throw-releases',
        '§ waiting promise settles (rejected, as the callback threw): the lock is released',
        async (locks) => {
          const name = fresh('throw-release');
          await rejection(
            locks.request(name, () => {
              throw new Error('sync throw');
            }),
          );
          expect(await available(locks, name)).toBe(true);
        },
      );

      spec(
        'released.reject',
        '§ waiting promise settles: a rejected waiting promise releases the lock and rejects the request with its reason',
        async (locks) => {
          const name = fresh('reject');
          const boom = new Error('async throw');
          expect(
            await rejection(
              locks.request(name, async () => {
                await tick();
                throw boom;
              }),
            ),
          ).toBe(boom);
          expect(await available(locks, name)).toBe(true);
        },
      );

      spec('held.until-settled', '§ Locks: the lock is held until its waiting promise settles', async (locks) => {
        const name = fresh('until');
        const h = hold(locks, name);
        await h.granted;
        await tick();
        expect(await available(locks, name)).toBe(false);
        expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: [] });
        h.release('v');
        expect(await h.done).toBe('v');
        expect(await available(locks, name)).toBe(true);
      });

      spec(
        'released.after-release',
        '§ waiting promise settles: release the lock, then resolve the released promise (it settles after the release)',
        async (locks) => {
          const name = fresh('after');
          const freeAfter = await locks
            .request(name, async () => {
              await tick();
            })
            .then(() => available(locks, name));
          expect(freeAfter).toBe(true);
        },
      );
    });

    describe('modes and scheduling', () => {
      spec(
        'exclusive.excludes',
        '§ Modes: while an exclusive lock is held no other lock of that name is granted; the next one is granted on release',
        async (locks) => {
          const name = fresh('excl');
          const a = hold(locks, name);
          await a.granted;
          const b = hold(locks, name);
          expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['exclusive'] });
          expect(b.isGranted).toBe(false);
          a.release();
          await b.granted;
          b.release();
          await Promise.all([a.done, b.done]);
        },
      );

      spec('shared.shares', '§ Modes: while a shared lock is held other shared locks of that name are granted', async (locks) => {
        const name = fresh('shared');
        const hs = [hold(locks, name, { mode: 'shared' }), hold(locks, name, { mode: 'shared' }), hold(locks, name, { mode: 'shared' })];
        await Promise.all(hs.map((h) => h.granted));
        expect(await stateOf(locks, name)).toEqual({ held: ['shared', 'shared', 'shared'], pending: [] });
        for (const h of hs) h.release();
        await Promise.all(hs.map((h) => h.done));
      });

      spec('shared.blocks-exclusive', '§ Modes: while a shared lock is held no exclusive lock of that name is granted', async (locks) => {
        const name = fresh('s-x');
        const s = hold(locks, name, { mode: 'shared' });
        await s.granted;
        const x = hold(locks, name);
        expect(await stateOf(locks, name)).toEqual({ held: ['shared'], pending: ['exclusive'] });
        s.release();
        await x.granted;
        x.release();
        await Promise.all([s.done, x.done]);
      });

      spec('exclusive.blocks-shared', '§ Modes: while an exclusive lock is held no shared lock of that name is granted', async (locks) => {
        const name = fresh('x-s');
        const x = hold(locks, name);
        await x.granted;
        const s = hold(locks, name, { mode: 'shared' });
        expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['shared'] });
        x.release();
        await s.granted;
        s.release();
        await Promise.all([s.done, x.done]);
      });

      spec(
        'fifo',
        '§ grantable: only the first request of a queue is grantable, so requests are granted in the order made',
        async (locks) => {
          const name = fresh('fifo');
          const first = hold(locks, name);
          await first.granted;
          const order: number[] = [];
          const rest = [1, 2, 3, 4].map((i) => locks.request(name, () => void order.push(i)));
          first.release();
          await Promise.all([first.done, ...rest]);
          expect(order).toEqual([1, 2, 3, 4]);
        },
      );

      spec(
        'queue.blocks-shared',
        '§ grantable: a shared request behind a queued exclusive one is not grantable, though compatible with the held locks',
        async (locks) => {
          const name = fresh('queue');
          const s1 = hold(locks, name, { mode: 'shared' });
          await s1.granted;
          const x = hold(locks, name);
          const s2 = hold(locks, name, { mode: 'shared' });
          expect(await stateOf(locks, name)).toEqual({ held: ['shared'], pending: ['exclusive', 'shared'] });
          s1.release();
          await x.granted;
          expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['shared'] });
          x.release();
          await s2.granted;
          s2.release();
          await Promise.all([s1.done, x.done, s2.done]);
        },
      );

      spec(
        'shared.group',
        '§ process the lock request queue: the shared requests at the head of the queue are granted together',
        async (locks) => {
          const name = fresh('group');
          const x = hold(locks, name);
          await x.granted;
          const group = [hold(locks, name, { mode: 'shared' }), hold(locks, name, { mode: 'shared' })];
          const last = hold(locks, name);
          x.release();
          await Promise.all(group.map((h) => h.granted));
          expect(await stateOf(locks, name)).toEqual({ held: ['shared', 'shared'], pending: ['exclusive'] });
          for (const h of group) h.release();
          await last.granted;
          last.release();
          await Promise.all([x.done, last.done, ...group.map((h) => h.done)]);
        },
      );

      spec(
        'names.independent',
        '§ lock request queue map: each name has its own queue; a held name does not block another',
        async (locks) => {
          const a = fresh('ind-a'),
            b = fresh('ind-b');
          const h = hold(locks, a);
          await h.granted;
          expect(await locks.request(b, (l: LockLike) => l.name)).toBe(b);
          h.release();
          await h.done;
        },
      );

      spec(
        'names.code-units',
        '§ resource name: any JavaScript string, compared code unit by code unit (no UTF-8 or Unicode normalisation)',
        async (locks) => {
          for (const name of ['', 'abc\u0000def', '\uD800', '\uDC00', '\uDC00\uD800', '\uFFFF', '\u00E9', 'e\u0301']) {
            expect(await locks.request(name, (l: LockLike) => l.name)).toBe(name);
          }
          const lone = hold(locks, '\uD800');
          await lone.granted;
          // A lone surrogate is not U+FFFD, and the two forms of é are different names.
          expect(await available(locks, '\uFFFD')).toBe(true);
          const nfc = hold(locks, '\u00E9');
          await nfc.granted;
          expect(await available(locks, 'e\u0301')).toBe(true);
          lone.release();
          nfc.release();
          await Promise.all([lone.done, nfc.done]);
        },
      );

      spec('not-reentrant', '§ grantable: a lock is not re-entrant: inside its callback, the same name is not grantable', async (locks) => {
        const name = fresh('reentrant');
        expect(await locks.request(name, () => available(locks, name))).toBe(false);
      });
    });

    describe('ifAvailable', () => {
      spec('ifAvailable.granted', '§ request a lock: ifAvailable with a grantable request gets the lock', async (locks) => {
        const name = fresh('ia-free');
        expect(await locks.request(name, { ifAvailable: true }, (l: LockLike | null) => l?.name)).toBe(name);
      });

      spec(
        'ifAvailable.null',
        '§ request a lock: ifAvailable with a request that is not grantable calls the callback with null and resolves with its result; nothing is queued',
        async (locks) => {
          const name = fresh('ia-null');
          const h = hold(locks, name);
          await h.granted;
          const args: unknown[][] = [];
          expect(await locks.request(name, { ifAvailable: true }, (...a: unknown[]) => (args.push(a), 'null branch'))).toBe('null branch');
          expect(args).toEqual([[null]]);
          expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: [] });
          h.release();
          await h.done;
        },
      );

      spec('ifAvailable.queue', '§ grantable: ifAvailable is refused (null) when only the queue is in the way', async (locks) => {
        const name = fresh('ia-queue');
        const s = hold(locks, name, { mode: 'shared' });
        await s.granted;
        const x = hold(locks, name);
        expect(await locks.request(name, { mode: 'shared', ifAvailable: true }, (l: unknown) => l)).toBe(null);
        s.release();
        await x.granted;
        x.release();
        await Promise.all([s.done, x.done]);
      });

      spec('ifAvailable.shared', '§ grantable: ifAvailable shared is granted while only shared locks are held', async (locks) => {
        const name = fresh('ia-shared');
        const s = hold(locks, name, { mode: 'shared' });
        await s.granted;
        expect(await locks.request(name, { mode: 'shared', ifAvailable: true }, (l: LockLike | null) => l?.mode)).toBe('shared');
        s.release();
        await s.done;
      });

      spec('ifAvailable.throw', '§ request a lock: a null callback that throws rejects the request', async (locks) => {
        const name = fresh('ia-throw');
        const h = hold(locks, name);
        await h.granted;
        const boom = new Error('null branch threw');
        expect(
          await rejection(
            locks.request(name, { ifAvailable: true }, () => {
              throw boom;
            }),
          ),
        ).toBe(boom);
        h.release();
        await h.done;
      });
    });

    describe('steal', () => {
      spec('steal.free', '§ request a lock: steal of a free lock is granted', async (locks) => {
        expect(await locks.request(fresh('steal-free'), { steal: true }, (l: LockLike) => l.mode)).toBe('exclusive');
      });

      spec(
        'steal.held',
        '§ request a lock (steal): the held lock is removed and its released promise rejects with an "AbortError" DOMException, while its callback still runs; the stealer is granted at once',
        async (locks) => {
          const name = fresh('steal');
          const victim = hold(locks, name);
          await victim.granted;
          expect(await locks.request(name, { steal: true }, (l: LockLike) => l.mode)).toBe('exclusive');
          await expectDOMException(victim.done, 'AbortError');
          victim.release('too late'); // its callback was still running
        },
      );

      spec('steal.all', '§ request a lock (steal): every held lock of the name is removed (all shared holders)', async (locks) => {
        const name = fresh('steal-all');
        const holders = [hold(locks, name, { mode: 'shared' }), hold(locks, name, { mode: 'shared' })];
        await Promise.all(holders.map((h) => h.granted));
        const stealer = hold(locks, name, { steal: true });
        await stealer.granted;
        for (const h of holders) await expectDOMException(h.done, 'AbortError');
        expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: [] });
        stealer.release();
        await stealer.done;
      });

      spec(
        'steal.preempts',
        '§ request a lock (steal): the request is prepended to the queue; queued requests stay queued behind it',
        async (locks) => {
          const name = fresh('preempt');
          const victim = hold(locks, name);
          await victim.granted;
          const queued = hold(locks, name, { mode: 'shared' });
          const stealer = hold(locks, name, { steal: true });
          await stealer.granted;
          expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['shared'] });
          stealer.release();
          await queued.granted;
          queued.release();
          await Promise.all([stealer.done, queued.done, rejection(victim.done)]);
        },
      );

      spec(
        'steal.late-settle',
        "§ release the lock: the stolen callback's later settling releases nothing of the stealer's",
        async (locks) => {
          const name = fresh('late');
          const victim = hold(locks, name);
          await victim.granted;
          const stealer = hold(locks, name, { steal: true });
          await stealer.granted;
          victim.release('late');
          await rejection(victim.done);
          await tick();
          expect(await available(locks, name)).toBe(false);
          stealer.release();
          await stealer.done;
        },
      );

      spec('steal.other-names', '§ request a lock (steal): only locks of that name are removed', async (locks) => {
        const other = hold(locks, fresh('steal-other'));
        await other.granted;
        await locks.request(fresh('steal-mine'), { steal: true }, () => {});
        await tick();
        expect(other.isGranted).toBe(true);
        other.release('kept');
        expect(await other.done).toBe('kept');
      });
    });

    describe('signal', () => {
      spec(
        'abort.queued',
        "§ signal to abort the request: a queued request rejects with the signal's reason and leaves the queue; its callback never runs",
        async (locks) => {
          const name = fresh('abort');
          const h = hold(locks, name);
          await h.granted;
          const controller = new AbortController();
          const reason = new Error('gave up');
          const p = locks.request(name, { signal: controller.signal }, never);
          expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: ['exclusive'] });
          controller.abort(reason);
          expect(await rejection(p)).toBe(reason);
          try {
            expect(await stateOf(locks, name)).toEqual({ held: ['exclusive'], pending: [] });
          } finally {
            h.release();
            await h.done;
          }
          expect(await available(locks, name)).toBe(true); // it takes nothing later either
        },
      );

      spec(
        'abort.queued-default',
        '§ signal to abort the request: without a reason, it rejects with an "AbortError" DOMException',
        async (locks) => {
          const name = fresh('abort-default');
          const h = hold(locks, name);
          await h.granted;
          const controller = new AbortController();
          const p = locks.request(name, { signal: controller.signal }, never);
          controller.abort();
          await expectDOMException(p, 'AbortError');
          h.release();
          await h.done;
        },
      );

      spec('abort.next', '§ abort the request: the queue is processed, so the requests behind the aborted one move on', async (locks) => {
        const name = fresh('abort-next');
        const s = hold(locks, name, { mode: 'shared' });
        await s.granted;
        const controller = new AbortController();
        const x = locks.request(name, { signal: controller.signal }, never);
        const behind = hold(locks, name, { mode: 'shared' });
        controller.abort();
        await rejection(x);
        try {
          await until(() => behind.isGranted, 5000); // compatible with the held shared lock, and now at the head
        } finally {
          s.release();
          behind.release();
        }
        await Promise.all([s.done, behind.done]);
      });

      spec(
        'abort.before-callback',
        '§ process the lock request queue: a signal aborted after the grant but before the callback ran releases the lock; the callback never runs; the request rejects with the reason',
        async (locks) => {
          const name = fresh('abort-granted');
          const controller = new AbortController();
          const p = locks.request(name, { signal: controller.signal }, never); // grantable at once
          const next = locks.request(name, () => 'next');
          controller.abort('changed my mind');
          expect(await rejection(p)).toBe('changed my mind');
          expect(await next).toBe('next');
          expect(await available(locks, name)).toBe(true);
        },
      );

      spec('abort.after-callback', '§ process the lock request queue: once the callback runs, the signal is ignored', async (locks) => {
        const controller = new AbortController();
        expect(
          await locks.request(fresh('abort-late'), { signal: controller.signal }, async () => (controller.abort(), await tick(), 'kept')),
        ).toBe('kept');
      });

      spec('abort.after-release', '§ signal: an abort after the lock was released changes nothing', async (locks) => {
        const name = fresh('abort-after');
        const controller = new AbortController();
        const p = locks.request(name, { signal: controller.signal }, () => 'done');
        expect(await p).toBe('done');
        controller.abort();
        expect(await available(locks, name)).toBe(true);
      });

      spec('signal.unaborted', '§ request a lock: a signal that never aborts changes nothing', async (locks) => {
        expect(await locks.request(fresh('sig-ok'), { signal: new AbortController().signal }, (l: LockLike) => l.mode)).toBe('exclusive');
      });
    });

    describe('query()', () => {
      spec(
        'query.shape',
        '§ snapshot the lock state: a LockManagerSnapshot { held, pending } of LockInfo { name, mode, clientId }',
        async (locks) => {
          const name = fresh('shape');
          const h = hold(locks, name, { mode: 'shared' });
          await h.granted;
          const x = hold(locks, name);
          const s = await locks.query();
          expect(Array.isArray(s.held) && Array.isArray(s.pending)).toBe(true);
          const held = s.held.filter((i) => i.name === name),
            pending = s.pending.filter((i) => i.name === name);
          expect(held).toEqual([{ name, mode: 'shared', clientId: expect.any(String) }]);
          expect(pending).toEqual([{ name, mode: 'exclusive', clientId: expect.any(String) }]);
          h.release();
          await x.granted;
          x.release();
          await Promise.all([h.done, x.done]);
          expect(await stateOf(locks, name)).toEqual({ held: [], pending: [] });
        },
      );

      spec(
        'query.member-order',
        'WebIDL dictionary → JS value: members are created in lexicographic order (held, pending; clientId, mode, name)',
        async (locks) => {
          const name = fresh('members');
          const h = hold(locks, name);
          await h.granted;
          const s = await locks.query();
          expect(Object.keys(s)).toEqual(['held', 'pending']);
          expect(Object.keys(s.held.find((i) => i.name === name)!)).toEqual(['clientId', 'mode', 'name']);
          h.release();
          await h.done;
        },
      );

      spec(
        'query.pending-order',
        '§ snapshot the lock state (note): pending requests of one name are listed in the order they were made',
        async (locks) => {
          const name = fresh('pending-order');
          const h = hold(locks, name);
          await h.granted;
          const modes = ['shared', 'exclusive', 'shared', 'shared', 'exclusive'];
          const waits = modes.map((mode) => hold(locks, name, { mode }));
          expect((await stateOf(locks, name)).pending).toEqual(modes);
          h.release();
          for (const w of waits) {
            await w.granted;
            w.release();
          }
          await Promise.all([h.done, ...waits.map((w) => w.done)]);
        },
      );

      spec(
        'query.snapshot',
        '§ snapshot the lock state: a snapshot is plain data, fresh on each call (changing it changes nothing)',
        async (locks) => {
          const name = fresh('snapshot');
          const h = hold(locks, name);
          await h.granted;
          const s1 = await locks.query();
          s1.held.length = 0;
          const s2 = await locks.query();
          expect(s2).not.toBe(s1);
          expect(s2.held.some((i) => i.name === name)).toBe(true);
          expect(JSON.parse(JSON.stringify(s2))).toEqual(s2);
          h.release();
          await h.done;
        },
      );

      spec('query.client', '§ lock request clientId: every lock and request of one agent (thread) has the same clientId', async (locks) => {
        const a = fresh('client-a'),
          b = fresh('client-b');
        const ha = hold(locks, a),
          hb = hold(locks, b, { mode: 'shared' });
        await Promise.all([ha.granted, hb.granted]);
        const hp = hold(locks, a, { mode: 'shared' });
        const s = await locks.query();
        const ids = [...s.held, ...s.pending].filter((i) => i.name === a || i.name === b).map((i) => i.clientId);
        expect(ids).toHaveLength(3);
        expect(new Set(ids).size).toBe(1);
        ha.release();
        hb.release();
        await hp.granted;
        hp.release();
        await Promise.all([ha.done, hb.done, hp.done]);
      });

      spec('query.ifAvailable', '§ request a lock: a refused ifAvailable request never enters the queue', async (locks) => {
        const name = fresh('ia-query');
        const h = hold(locks, name);
        await h.granted;
        expect(
          await locks.request(name, { ifAvailable: true }, async () => (await locks.query()).pending.filter((i) => i.name === name).length),
        ).toBe(0);
        h.release();
        await h.done;
      });
    });

    describe('across agents (worker threads)', () => {
      const target = () => impl.target();

      spec(
        'agents.exclusive',
        '§ lock manager: agents share the lock manager; an exclusive lock held in a worker blocks this thread until the worker releases',
        async (locks) => {
          const name = fresh('x-agents');
          expect(await w1.call<Granted>('hold', { target: target(), name, key: name })).toEqual({ granted: true, name, mode: 'exclusive' });
          expect(await available(locks, name)).toBe(false);
          expect(await available(locks, name, 'shared')).toBe(false);
          const mine = hold(locks, name);
          expect((await locks.query()).pending.filter((i) => i.name === name).map((i) => i.mode)).toEqual(['exclusive']);
          expect(await w1.call<Outcome>('release', { key: name, value: 'w1 done' })).toEqual({ ok: true, value: 'w1 done' });
          await mine.granted;
          mine.release();
          await mine.done;
        },
      );

      spec(
        'agents.shared',
        '§ Modes: a shared lock is held in two threads at once; an exclusive request (from a third) waits for both',
        async (locks) => {
          const name = fresh('s-agents');
          expect(await w1.call<Granted>('hold', { target: target(), name, key: name, options: { mode: 'shared' } })).toMatchObject({
            granted: true,
            mode: 'shared',
          });
          const mine = hold(locks, name, { mode: 'shared' });
          expect(await mine.granted).toMatchObject({ mode: 'shared' }); // held here and in w1 at once
          expect(await w2.call('holdQueued', { target: target(), name, key: name })).toBe('queued');
          mine.release();
          await mine.done;
          expect(await w2.call('granted', { key: name })).toBe(false); // w1 still holds
          await w1.call('release', { key: name });
          await until(() => w2.call<boolean>('granted', { key: name }));
          await w2.call('release', { key: name });
        },
      );

      spec(
        'query.agents',
        '§ snapshot the lock state: a snapshot lists the locks and requests of every agent, each agent with its own clientId',
        async (locks) => {
          const name = fresh('clients');
          await w1.call('hold', { target: target(), name, key: name });
          const mine = hold(locks, name, { mode: 'shared' });
          try {
            expect(await w2.call('holdQueued', { target: target(), name, key: name, options: { mode: 'shared' } })).toBe('queued');
            const here = await locks.query();
            const held = here.held.filter((i) => i.name === name),
              pending = here.pending.filter((i) => i.name === name);
            expect([held.length, pending.length]).toEqual([1, 2]);
            expect(new Set([...held, ...pending].map((i) => i.clientId)).size).toBe(3);
            // Every agent sees the same state.
            const there = await w1.call<Snapshot>('query', { target: target() });
            expect(there.held.filter((i) => i.name === name)).toEqual(held);
          } finally {
            await w1.call('release', { key: name });
            await mine.granted;
            mine.release();
            await until(() => w2.call<boolean>('granted', { key: name }));
            await w2.call('release', { key: name });
          }
        },
      );

      spec(
        'agents.steal',
        '§ request a lock (steal): stealing a worker\'s lock rejects the worker\'s request with an "AbortError" DOMException',
        async (locks) => {
          if (isNode) {
            // Run where a process abort cannot take the suite down (Node 24 aborts the process here).
            expect(await stealInChildProcess()).toBe('DOMException AbortError');
            return;
          }
          const name = fresh('steal-agents');
          await w1.call('hold', { target: target(), name, key: name });
          expect(await locks.request(name, { steal: true }, (l: LockLike) => l.mode)).toBe('exclusive');
          const outcome = await w1.call<Outcome>('outcome', { key: name });
          expect(outcome).toMatchObject({ ok: false, error: { name: 'AbortError', domException: true } satisfies Partial<Failure> });
          await w1.call('release', { key: name });
        },
      );

      spec(
        'agents.terminate-held',
        '§ terminate remaining locks and requests: when a worker terminates, its held lock is released and a waiting request is granted',
        async (locks) => {
          const name = fresh('term-held');
          const w = await startWorker();
          await w.call('hold', { target: target(), name, key: name });
          const mine = hold(locks, name);
          expect(await available(locks, name, 'shared')).toBe(false);
          await w.stop();
          try {
            await until(() => mine.isGranted);
          } finally {
            mine.release();
          }
          await mine.done;
        },
      );

      spec(
        'agents.terminate-pending',
        '§ terminate remaining locks and requests: when a worker terminates, its pending requests are aborted (never granted, they take nothing)',
        async (locks) => {
          const name = fresh('term-pending');
          const mine = hold(locks, name);
          await mine.granted;
          const w = await startWorker();
          expect(await w.call('holdQueued', { target: target(), name, key: name })).toBe('queued');
          await w.stop();
          mine.release();
          await mine.done;
          await until(() => available(locks, name));
        },
      );
    });
  });
}
