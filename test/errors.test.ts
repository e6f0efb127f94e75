import { inspect } from 'node:util';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  AlreadyVotedError,
  BulkheadFullError,
  CanceledError,
  UnavailableError,
  CapacityError,
  CircuitOpenError,
  ConflictError,
  DeadlockError,
  ErrorCode,
  HandleError,
  InvalidArgumentError,
  isSabreError,
  NotOwnerError,
  OwnerDiedError,
  SabreError,
  TimeoutError,
} from '../src/errors.js';
import type { EchoRequest } from '../workers/fixtures/echo.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';

const echo = tsTask<EchoRequest>(new URL('../workers/fixtures/echo.ts', import.meta.url));
import { Remote } from './threads/remote.js';

type AnyErrorClass = abstract new (...args: never[]) => SabreError;

/** [class, code, name, an instance]: the DESIGN §4 table, row by row. */
const table: [AnyErrorClass, ErrorCode, string, SabreError][] = [
  [TimeoutError, ErrorCode.TIMEOUT, 'TimeoutError', new TimeoutError('t', { timeoutMs: 5 })],
  [AbortError, ErrorCode.ABORTED, 'AbortError', new AbortError('a')],
  [HandleError, ErrorCode.HANDLE, 'HandleError', new HandleError('h')],
  [InvalidArgumentError, ErrorCode.INVALID_ARG, 'InvalidArgumentError', new InvalidArgumentError('i')],
  [CapacityError, ErrorCode.CAPACITY, 'CapacityError', new CapacityError('c')],
  [NotOwnerError, ErrorCode.NOT_OWNER, 'NotOwnerError', new NotOwnerError('n')],
  [DeadlockError, ErrorCode.DEADLOCK, 'DeadlockError', new DeadlockError('d')],
  [OwnerDiedError, ErrorCode.OWNER_DIED, 'OwnerDiedError', new OwnerDiedError('o', { ownerThreadId: 3 })],
  [ConflictError, ErrorCode.CONFLICT, 'ConflictError', new ConflictError('v', { expectedVersion: 1, actualVersion: 2 })],
  [AlreadyVotedError, ErrorCode.ALREADY_VOTED, 'AlreadyVotedError', new AlreadyVotedError('av')],
  [CircuitOpenError, ErrorCode.CIRCUIT_OPEN, 'CircuitOpenError', new CircuitOpenError('open', { retryAfterMs: 1500 })],
  [BulkheadFullError, ErrorCode.BULKHEAD_FULL, 'BulkheadFullError', new BulkheadFullError('b')],
  [CanceledError, ErrorCode.CANCELED, 'CanceledError', new CanceledError('x')],
  [UnavailableError, ErrorCode.UNAVAILABLE, 'UnavailableError', new UnavailableError('u')],
];

const codesInTable = new Set(table.map(([, code]) => code));

/** What must survive any crossing: class, code, name, message, details. */
function expectRebuilt(crossed: unknown, original: SabreError, Class: AnyErrorClass): void {
  expect(crossed).not.toBe(original);
  expect(isSabreError(crossed, original.code)).toBe(true);
  const rebuilt = SabreError.from(crossed);
  expect(rebuilt).toBeInstanceOf(Class);
  expect(rebuilt).toBeInstanceOf(SabreError);
  expect(rebuilt).toBeInstanceOf(Error);
  const e = rebuilt as SabreError;
  expect(e.code).toBe(original.code);
  expect(e.name).toBe(original.name);
  expect(e.message).toBe(original.message);
  expect(e.details).toEqual(original.details);
  expect(isSabreError(e, original.code)).toBe(true);
}

describe('error classes', () => {
  it('the table covers every code', () => {
    expect([...codesInTable].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it.each(table.map((row) => [row[2], ...row] as const))('%s has its code, name and cause', (_n, Class, code, name, e) => {
    expect(e).toBeInstanceOf(Class);
    expect(e).toBeInstanceOf(SabreError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(code);
    expect(e.name).toBe(name);
    expect(e.cause).toMatchObject({ sabre: true, code, name });
    expect(String(e)).toBe(`${name}: ${e.message}`);
  });

  it('keeps details as fields and in cause', () => {
    const open = new CircuitOpenError('open', { retryAfterMs: 1500 });
    expect(open.retryAfterMs).toBe(1500);
    expect(open.details).toEqual({ retryAfterMs: 1500 });
    expect(open.cause).toMatchObject({ details: { retryAfterMs: 1500 } });
    expect(new OwnerDiedError('o', { ownerThreadId: 3 }).details).toEqual({ ownerThreadId: 3 });
    expect(new HandleError('h').details).toEqual({});
  });

  it('AbortError keeps the abort reason as the inner cause', () => {
    const e = new AbortError('aborted', 'stop');
    expect(e.cause).toMatchObject({ code: ErrorCode.ABORTED, cause: 'stop' });
    const rebuilt = SabreError.from(structuredClone(e)) as AbortError;
    expect(rebuilt).toBeInstanceOf(AbortError);
    expect((rebuilt.cause as { cause?: unknown }).cause).toBe('stop');
  });
});

describe('isSabreError', () => {
  it('recognises every class, with and without a code', () => {
    for (const [, code, , e] of table) {
      expect(isSabreError(e)).toBe(true);
      expect(isSabreError(e, code)).toBe(true);
      const other = table.find(([, c]) => c !== code)![1];
      expect(isSabreError(e, other)).toBe(false);
    }
  });

  it.each(table.map((row) => [row[2], ...row] as const))(
    'after a structuredClone, the guard gives %s back every field its type promises',
    (_n, Class, code, name, e) => {
      const crossed: unknown = structuredClone(e);
      expect(crossed).not.toBeInstanceOf(SabreError); // what the boundary does
      if (!isSabreError(crossed, code)) throw new Error('not recognised');
      // From here on the type is the class of `code`; the object is that class again.
      expect(crossed).toBeInstanceOf(Class);
      expect(crossed.code).toBe(code);
      expect(crossed.name).toBe(name);
      expect(crossed.details).toEqual(e.details);
      expect(crossed.message).toBe(e.message);
      expect(String(crossed)).toBe(String(e));
    },
  );

  it('narrows to the class of the code: retryAfterMs and the other detail fields are there after a hop', () => {
    const crossed: unknown = structuredClone(new CircuitOpenError('open', { retryAfterMs: 1500 }));
    expect(isSabreError(crossed, ErrorCode.CIRCUIT_OPEN) && crossed.retryAfterMs).toBe(1500);
    const timeout: unknown = structuredClone(new TimeoutError('t', { timeoutMs: 5 }));
    expect(isSabreError(timeout, ErrorCode.TIMEOUT) && timeout.timeoutMs).toBe(5);
    const died: unknown = structuredClone(new OwnerDiedError('o', { ownerThreadId: 3 }));
    expect(isSabreError(died, ErrorCode.OWNER_DIED) && died.ownerThreadId).toBe(3);
    const conflict: unknown = structuredClone(new ConflictError('c', { expectedVersion: 1, actualVersion: 2 }));
    expect(isSabreError(conflict, ErrorCode.CONFLICT) && [conflict.expectedVersion, conflict.actualVersion]).toEqual([1, 2]);
  });

  it("an error of another class that carries a sabre code (the Web Locks API's TypeError, DOMException) keeps its class", () => {
    const cause = { sabre: true, code: ErrorCode.INVALID_ARG, name: 'InvalidArgumentError' };
    const type = new TypeError('mode must be "exclusive" or "shared"', { cause });
    expect(isSabreError(type, ErrorCode.INVALID_ARG)).toBe(true);
    expect(type).toBeInstanceOf(TypeError);
    expect([type.name, (type as unknown as { code: string }).code]).toEqual(['TypeError', ErrorCode.INVALID_ARG]);
    const abort = new (DOMException as unknown as new (m: string, o: { name: string; cause: unknown }) => DOMException)('stolen', {
      name: 'AbortError',
      cause: { sabre: true, code: ErrorCode.ABORTED, name: 'AbortError' },
    });
    expect(isSabreError(abort, ErrorCode.ABORTED)).toBe(true);
    expect(abort).toBeInstanceOf(DOMException);
    expect([abort.name, abort.message, abort.code]).toEqual(['AbortError', 'stolen', 20]); // the standard's own fields stay
  });

  it('a frozen error that crossed cannot be given its class back: the guard says no, SabreError.from still rebuilds it', () => {
    const frozen = Object.freeze(structuredClone(new CircuitOpenError('open', { retryAfterMs: 7 })));
    expect(isSabreError(frozen)).toBe(false);
    expect((SabreError.from(frozen) as CircuitOpenError).retryAfterMs).toBe(7);
  });

  it('says no to everything else', () => {
    for (const v of [
      new Error('x'),
      new TypeError('x'),
      null,
      undefined,
      'ERR_TIMEOUT',
      42,
      {},
      { code: 'ERR_TIMEOUT' },
      new Error('x', { cause: { code: 'ERR_TIMEOUT' } }),
      new Error('x', { cause: { sabre: true, code: 'ERR_NOT_A_CODE' } }),
      new Error('x', { cause: 'ERR_TIMEOUT' }),
    ]) {
      expect(isSabreError(v), inspect(v)).toBe(false);
    }
  });
});

describe('SabreError.from', () => {
  it.each(table.map((row) => [row[2], ...row] as const))('rebuilds %s after structuredClone', (_n, Class, _code, _name, e) => {
    const cloned = structuredClone(e);
    expect(cloned).not.toBeInstanceOf(SabreError); // what the boundary does...
    expectRebuilt(cloned, e, Class); // ...and what from() undoes
    expect((SabreError.from(cloned) as Error).stack).toBe(e.stack);
  });

  it('returns a SabreError as it is', () => {
    const e = new TimeoutError();
    expect(SabreError.from(e)).toBe(e);
  });

  it('leaves a non-sabre error (or any other value) alone', () => {
    const plain = new TypeError('nope');
    expect(SabreError.from(plain)).toBe(plain);
    const lookalike = new Error('x', { cause: { sabre: true, code: 'ERR_BOGUS' } });
    expect(SabreError.from(lookalike)).toBe(lookalike);
    const cloned = structuredClone(new RangeError('r'));
    expect(SabreError.from(cloned)).toBe(cloned);
    for (const v of ['s', 1, null, undefined, { code: 'ERR_TIMEOUT' }]) expect(SabreError.from(v)).toBe(v);
  });

  describe('across a real postMessage from a worker', () => {
    let w: Remote;
    beforeAll(async () => {
      w = await Remote.start();
    });
    afterAll(() => w?.stop());

    it('rebuilds every class, built in the worker', async () => {
      const crossed = await w.call<unknown[]>('makeErrors');
      expect(crossed).toHaveLength(table.length);
      for (const [i, [Class, , , original]] of table.entries()) {
        expect(crossed[i]).not.toBeInstanceOf(SabreError);
        expectRebuilt(crossed[i], original, Class);
      }
      const open = SabreError.from(crossed[table.findIndex(([C]) => C === CircuitOpenError)]) as CircuitOpenError;
      expect(open.retryAfterMs).toBe(1500);
      // The guard alone is enough: what crossed is a CircuitOpenError again, with its fields.
      const raw = (await w.call<unknown[]>('makeErrors'))[table.findIndex(([C]) => C === CircuitOpenError)];
      expect(isSabreError(raw, ErrorCode.CIRCUIT_OPEN) && [raw.code, raw.retryAfterMs, raw instanceof CircuitOpenError]).toEqual([
        ErrorCode.CIRCUIT_OPEN,
        1500,
        true,
      ]);
    });

    it('recognises an error thrown by an operation in the worker', async () => {
      // The worker unlocks a mutex it does not hold: NotOwnerError, thrown there.
      const { Mutex } = await import('../src/sync/mutex.js');
      const error = await w.call('unlock', { mutex: new Mutex().handle }).catch((e: unknown) => e);
      expect(isSabreError(error, ErrorCode.NOT_OWNER)).toBe(true);
      expect(error).toBeInstanceOf(NotOwnerError);
    });
  });

  describe('across a Piscina task rejection', () => {
    let pool: Piscina;
    beforeAll(() => {
      pool = new Piscina({ filename: BOOTSTRAP, atomics: 'async', maxThreads: 1 });
    });
    afterAll(() => pool?.destroy());

    it('a task that throws OwnerDiedError rejects with an error the main thread recognises and rebuilds', async () => {
      const error = await pool.run(echo({ op: 'throw', error: 'OwnerDiedError', message: 'holder died' })).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(SabreError);
      expect(isSabreError(error, ErrorCode.OWNER_DIED)).toBe(true);
      const rebuilt = SabreError.from(error);
      expect(rebuilt).toBeInstanceOf(OwnerDiedError);
      expect((rebuilt as OwnerDiedError).message).toBe('holder died');
      expect((rebuilt as OwnerDiedError).details).toEqual({ ownerThreadId: 7 });
    });

    it('keeps CircuitOpenError.retryAfterMs', async () => {
      const error = await pool.run(echo({ op: 'throw', error: 'CircuitOpenError', message: 'open' })).catch((e: unknown) => e);
      const rebuilt = SabreError.from(error);
      expect(rebuilt).toBeInstanceOf(CircuitOpenError);
      expect((rebuilt as CircuitOpenError).retryAfterMs).toBe(1234);
    });

    it("leaves a task's non-sabre error alone", async () => {
      const error = await pool.run(echo({ op: 'throw', error: 'TypeError', message: 'plain' })).catch((e: unknown) => e);
      expect(isSabreError(error)).toBe(false);
      expect(SabreError.from(error)).toBe(error);
      expect(error).toHaveProperty('message', 'plain');
    });
  });
});
