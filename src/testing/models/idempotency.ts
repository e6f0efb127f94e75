import type { Operation } from '../history.js';
import type { Model } from '../model.js';
import { accept, byKey, returns, unknownOperation } from './steps.js';

/** One key of an idempotency store: absent, begun by a thread (in flight), or completed with a response body. */
export type IdempotencyKeyState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'in-flight'; readonly fingerprint: string; readonly owner: number }
  | { readonly kind: 'completed'; readonly fingerprint: string; readonly body: string };

const ABSENT: IdempotencyKeyState = Object.freeze({ kind: 'absent' });

/**
 * An idempotency store (IdempotencyStore's contract, with no lease lapsing
 * during the history), partitioned by key:
 * `begin({ key, fingerprint })` → `{ status: 'new' }` (the caller owns the
 * key), `{ status: 'in-flight' }`, `{ status: 'replay', body }` or
 * `{ status: 'mismatch' }` (another fingerprint: checked first);
 * `complete({ key, body })` and `abort({ key })` by the thread that began
 * it. Record begin's answer in that plain form.
 */
export function idempotencyModel(): Model<IdempotencyKeyState> {
  const owns = (s: IdempotencyKeyState, op: Operation): boolean => s.kind === 'in-flight' && s.owner === op.thread;
  return {
    init: () => ABSENT,
    partition: (ops) => byKey('idempotencyModel', ops),
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      const arg = op.arg as { key: string; fingerprint?: string; body?: string };
      switch (op.name) {
        case 'begin': {
          const fp = String(arg.fingerprint);
          if (state.kind === 'absent')
            return { ok: returns(output, { status: 'new' }), state: { kind: 'in-flight', fingerprint: fp, owner: op.thread } };
          if (state.fingerprint !== fp) return { ok: returns(output, { status: 'mismatch' }), state };
          if (state.kind === 'completed') return { ok: returns(output, { status: 'replay', body: state.body }), state };
          return { ok: returns(output, { status: 'in-flight' }), state };
        }
        case 'complete':
          return {
            ok: owns(state, op),
            state: state.kind === 'in-flight' ? { kind: 'completed', fingerprint: state.fingerprint, body: String(arg.body) } : state,
          };
        case 'abort':
          return { ok: owns(state, op), state: ABSENT };
        default:
          return unknownOperation('idempotencyModel', op, 'begin, complete, abort');
      }
    },
  };
}
