/**
 * The options every wait takes: `timeoutMs` (also as a lone number:
 * `wait(100)`), `signal` for the promise forms, and the old name `timeout`
 * for one release (`SABRE_DEP_TIMEOUT`).
 */
import { signal, timeout } from './field.js';
import { defineOptions, type Fields, type OptionSchema } from './schema.js';

const WAIT = { timeoutMs: timeout() } as const;
const WAIT_ASYNC = { timeoutMs: timeout(), signal: signal() } as const;

/** `timeout` was the name of `timeoutMs` before every duration ended in Ms. */
export const RENAMED_TIMEOUT = { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } } as const;

/* eslint-disable @typescript-eslint/no-generated-empty-object-type -- no extra fields: `{}` is what leaves `typeof WAIT & E` as it is */
/** A blocking wait's options (`{ timeoutMs }` or the number), plus `extra`. */
export function waitOptions<E extends Fields = Record<never, never>>(where: string, extra?: E): OptionSchema<typeof WAIT & E> {
  return defineOptions(where, { ...WAIT, ...extra! }, { renamed: RENAMED_TIMEOUT, positional: 'timeoutMs' });
}

/** A promise wait's options (`{ timeoutMs, signal }` or the number), plus `extra`. */
export function waitAsyncOptions<E extends Fields = Record<never, never>>(where: string, extra?: E): OptionSchema<typeof WAIT_ASYNC & E> {
  return defineOptions(where, { ...WAIT_ASYNC, ...extra! }, { renamed: RENAMED_TIMEOUT, positional: 'timeoutMs' });
}
/* eslint-enable @typescript-eslint/no-generated-empty-object-type */
