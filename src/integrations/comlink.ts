/**
 * Comlink integration (`sabre/comlink`): sabre primitives and errors cross a
 * Comlink channel intact, in both directions (arguments and return values).
 *
 * What an app needs: `comlink` itself (an optional peer dependency of sabre;
 * this module never imports it, the app passes its Comlink namespace in).
 * sabre's own types here do not refer to Comlink's, so importing
 * `sabre/comlink` type-checks with `skipLibCheck: false` and no DOM lib.
 * Comlink's types are another matter: they name DOM types (`MessagePort`,
 * `Transferable`, `EventListenerOrEventListenerObject`), so an app that
 * imports `comlink` and checks libraries (`skipLibCheck: false`) needs
 * `"lib": [..., "DOM"]`, or `skipLibCheck: true`. Comlink's Node adapter
 * (`comlink/dist/esm/node-adapter.mjs`) ships no types for NodeNext
 * resolution: declare it in the app (`declare module
 * 'comlink/dist/esm/node-adapter.mjs' { export default function
 * nodeEndpoint(nep: …): Endpoint }`).
 */
import { isSabreError, SabreError } from '../errors.js';
import { isSabrePrimitive, registerKind, reopen, type SabreClass, type SabrePrimitive } from './kinds.js';

export { registerKind, type SabreClass, type SabrePrimitive } from './kinds.js';

/**
 * The shape of a Comlink transfer handler (Comlink's `TransferHandler`),
 * written out so that sabre's types do not depend on Comlink's.
 */
export interface ComlinkTransferHandler<T = unknown, S = unknown> {
  canHandle(value: unknown): value is T;
  serialize(value: T): [S, unknown[]];
  deserialize(value: S): T;
}

/** The part of a Comlink namespace this module uses (`import * as Comlink from 'comlink'`). */
export interface ComlinkNamespace {
  readonly transferHandlers: Map<string, ComlinkTransferHandler>;
}

/** Name of sabre's transfer handler in `Comlink.transferHandlers`. */
export const COMLINK_HANDLER_NAME = 'sabre';

/*
 * Implementation notes
 *
 * Primitives: `serialize` sends `v.handle` (plain and structured-cloneable;
 * its SharedArrayBuffer is shared by the clone, never transferred: a SAB in a
 * transfer list is a TypeError) and `deserialize` re-opens it with the class
 * the kind table holds for `handle.kind`, validating it (HandleError).
 * Comlink applies handlers to each argument and return value, not to values
 * nested inside them: nest handles there, not primitives.
 *
 * Errors: Comlink's own 'throw' handler sends `{ message, name, stack }` only,
 * so a SabreError loses its `cause` and with it its code. The wrapper keeps the
 * same wire shape (`{ isError: true, value }`) and adds `cause`, so an
 * unwrapped receiver still gets an Error whose `cause` `isSabreError`
 * recognises, and a wrapped receiver rebuilds the typed error with
 * `SabreError.from`. Anything else goes to Comlink's handler untouched.
 * The wrapper remembers the handler it wraps, so registering twice wraps once.
 *
 * Thread death: nothing here is shared state; a thread dying mid-call leaves
 * Comlink's pending promise unsettled, as it would without sabre.
 */

const wrappedThrow = Symbol('sabre.comlink.throw');

type ThrowHandler = ComlinkTransferHandler & { [wrappedThrow]?: ComlinkTransferHandler };

const primitiveHandler: ComlinkTransferHandler<SabrePrimitive> = {
  canHandle: (v: unknown): v is SabrePrimitive => isSabrePrimitive(v),
  serialize: (v: SabrePrimitive) => [v.handle, []],
  deserialize: (handle: unknown) => reopen(handle),
};

/**
 * Registers sabre's Comlink transfer handlers on the given Comlink namespace.
 * Call it in every thread, with the same namespace that thread passes to
 * `wrap`/`expose`: `'comlink'` and `'comlink/dist/esm/comlink.mjs'` are two
 * modules with two separate handler maps.
 *
 * After it, a `Mutex`, `SharedArena`, `ManualClock` (and any class given in
 * `primitives` or to `registerKind`) passed as an argument or returned arrives
 * as a live object over the same shared memory, and a `SabreError` thrown on
 * the far side rejects with its code (`isSabreError(e, code)`; rebuilt as its
 * class where this side has registered too). Idempotent.
 *
 * @param primitives extra classes to register (as `registerKind(Class)`)
 * @example
 * ```ts
 * import * as Comlink from 'comlink';
 * import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
 * import { registerComlinkHandlers } from 'sabre/comlink';
 * registerComlinkHandlers(Comlink);
 * const api = Comlink.wrap<Api>(nodeEndpoint(worker));
 * await api.work(mutex);                // the worker gets a live Mutex
 * ```
 */
export function registerComlinkHandlers(comlink: ComlinkNamespace, primitives: readonly SabreClass[] = []): void {
  for (const Class of primitives) registerKind(Class);
  comlink.transferHandlers.set(COMLINK_HANDLER_NAME, primitiveHandler);
  const original: ThrowHandler | undefined = comlink.transferHandlers.get('throw');
  if (original !== undefined && original[wrappedThrow] === undefined) {
    comlink.transferHandlers.set('throw', wrapThrowHandler(original));
  }
}

interface SerializedThrow {
  readonly isError: boolean;
  readonly value: unknown;
}

function wrapThrowHandler(original: ComlinkTransferHandler): ThrowHandler {
  return {
    [wrappedThrow]: original,
    canHandle: (v: unknown): v is unknown => original.canHandle(v),
    serialize(thrown: unknown) {
      const value = (thrown as { value?: unknown }).value;
      if (!(value instanceof Error) || !isSabreError(value)) return original.serialize(thrown);
      const wire: SerializedThrow = {
        isError: true,
        value: { message: value.message, name: value.name, stack: value.stack, cause: portableCause(value.cause) },
      };
      return [wire, []];
    },
    deserialize(serialized: unknown) {
      const s = serialized as Partial<SerializedThrow> | null;
      if (s?.isError === true && isSabreError(s.value)) throw SabreError.from(s.value);
      return original.deserialize(serialized);
    },
  };
}

/** The cause, without a nested cause that cannot be cloned (e.g. an abort reason holding a function). */
function portableCause(cause: unknown): unknown {
  try {
    structuredClone(cause);
    return cause;
  } catch {
    const { cause: _dropped, ...rest } = cause as Record<string, unknown>;
    return rest;
  }
}
