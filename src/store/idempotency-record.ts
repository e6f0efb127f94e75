/**
 * The record behind one idempotency key, as the IdempotencyStore keeps it in
 * its table: a fixed header (attempt, expiry, owner, state, response status
 * and kinds, lengths), then the fingerprint, the response headers as JSON
 * and the body, as UTF-8 or bytes. Also the validation and measuring of a
 * response before it is stored, and its decoding for a replay.
 *
 * Record layout (byte offsets):
 *   0  f64 attempt     the attempt that holds (or completed) the key
 *   8  f64 expiresAt   in flight: when the lease lapses; completed: when
 *                      the record is forgotten (completion + retentionMs)
 *   16 i32 owner       threadId + 1 of the thread that began the attempt
 *   20 u8  state       IN_FLIGHT or COMPLETED
 *   21 u8  bodyKind    NO_BODY, STRING_BODY or BYTES_BODY
 *   22 u16 status      the response's status (completed)
 *   24 u32 fpLen, 28 u32 headersLen (0: no headers), 32 u32 bodyLen
 *   36 fingerprint bytes, then headers (UTF-8 JSON), then body bytes;
 *      fingerprints, headers and string bodies are written and read as
 *      strings (two fingerprints' UTF-8 bytes are equal exactly when the
 *      well-formed strings they decode to are)
 */
import type { Codec } from '../memory/codec.js';
import { utf8Text, writeUtf8 } from '../memory/utf8.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue, integerIn, isBytes, plainObject, wellFormed } from '../validate.js';

/** A response as stored and replayed. */
export interface IdempotencyResponse {
  /** HTTP status, 100 .. 599. */
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string replays as a string; bytes replay as a (plain) Uint8Array. */
  readonly body?: string | Uint8Array;
}

export const IN_FLIGHT = 1,
  COMPLETED = 2; // record states
const NO_BODY = 0,
  STRING_BODY = 1,
  BYTES_BODY = 2; // body kinds
const R_ATTEMPT = 0,
  R_EXPIRES = 8,
  R_OWNER = 16,
  R_STATE = 20,
  R_BODY_KIND = 21,
  R_STATUS = 22,
  R_FP_LEN = 24,
  R_HEADERS_LEN = 28,
  R_BODY_LEN = 32; // record byte offsets
export const RECORD_HEADER_BYTES = 36;

/**
 * A response as a record holds it: the headers as JSON text, a string body
 * as the string, each with its UTF-8 size. Strings are written straight into
 * the record and read straight out of it: no byte array in between (a typed
 * array costs more to allocate than the string it would carry).
 */
export interface StoredResponse {
  readonly status: number;
  readonly bodyKind: number;
  /** The headers as JSON; empty when the response had none. */
  readonly headers: string;
  readonly headersBytes: number;
  /** A string (STRING_BODY), bytes (BYTES_BODY), or empty (NO_BODY). */
  readonly body: string | Uint8Array;
  readonly bodyBytes: number;
}

export interface IdempotencyRecord {
  readonly state: number;
  readonly attempt: number;
  readonly owner: number;
  readonly expiresAt: number;
  /**
   * Well-formed (`asStored`), so it decodes from its UTF-8 bytes as the
   * same string. Empty, with `response` null, in a completed record decoded
   * as forgotten (see RecordCodec).
   */
  readonly fingerprint: string;
  readonly response: StoredResponse | null;
}

/**
 * The codec of one store's records.
 *
 * It keeps one DataView of the buffer it last read or wrote: its table
 * always hands it the same private buffer, so no record pays for a view of
 * its own.
 *
 * A completed record that expired by `forgottenBy` decodes as forgotten,
 * without its fingerprint and response (three strings nobody reads). The
 * store sets `forgottenBy` to every time it reads from its clock, and time
 * only moves forward, so whoever decodes such a record, and reads the clock
 * after, finds it expired too: absent to begin, peek and sweep, and refused
 * by complete and abort on its attempt and state alone.
 */
export class RecordCodec implements Codec<IdempotencyRecord> {
  forgottenBy = -Infinity;
  private view = new DataView(new ArrayBuffer(0)) as DataView;

  private viewOf(bytes: Uint8Array): DataView {
    if (this.view.buffer !== bytes.buffer) this.view = new DataView(bytes.buffer);
    return this.view;
  }

  encode(r: IdempotencyRecord): Uint8Array {
    const out = new Uint8Array(recordBytes(r));
    this.encodeInto(r, out);
    return out;
  }

  encodeInto(r: IdempotencyRecord, target: Uint8Array): number {
    const fpBytes = Buffer.byteLength(r.fingerprint);
    const res = r.response;
    const n = RECORD_HEADER_BYTES + fpBytes + (res === null ? 0 : res.headersBytes + res.bodyBytes);
    if (n > target.length) return -1;
    const v = this.viewOf(target),
      o = target.byteOffset;
    v.setFloat64(o + R_ATTEMPT, r.attempt, true);
    v.setFloat64(o + R_EXPIRES, r.expiresAt, true);
    v.setInt32(o + R_OWNER, r.owner, true);
    v.setUint8(o + R_STATE, r.state);
    v.setUint8(o + R_BODY_KIND, res?.bodyKind ?? NO_BODY);
    v.setUint16(o + R_STATUS, res?.status ?? 0, true);
    v.setUint32(o + R_FP_LEN, fpBytes, true);
    v.setUint32(o + R_HEADERS_LEN, res?.headersBytes ?? 0, true);
    v.setUint32(o + R_BODY_LEN, res?.bodyBytes ?? 0, true);
    let at = writeUtf8(r.fingerprint, fpBytes, target, RECORD_HEADER_BYTES);
    if (res !== null) {
      at = writeUtf8(res.headers, res.headersBytes, target, at);
      if (typeof res.body === 'string') writeUtf8(res.body, res.bodyBytes, target, at);
      else target.set(res.body, at);
    }
    return n;
  }

  decode(bytes: Uint8Array): IdempotencyRecord {
    // `bytes` is the table's private copy, reused after the call: keep strings and slices.
    const v = this.viewOf(bytes),
      o = bytes.byteOffset;
    const state = v.getUint8(o + R_STATE);
    const attempt = v.getFloat64(o + R_ATTEMPT, true),
      owner = v.getInt32(o + R_OWNER, true),
      expiresAt = v.getFloat64(o + R_EXPIRES, true);
    if (state === COMPLETED && expiresAt <= this.forgottenBy) return { state, attempt, owner, expiresAt, fingerprint: '', response: null };
    const fpEnd = RECORD_HEADER_BYTES + v.getUint32(o + R_FP_LEN, true);
    let response: StoredResponse | null = null;
    if (state === COMPLETED) {
      const headersBytes = v.getUint32(o + R_HEADERS_LEN, true),
        bodyBytes = v.getUint32(o + R_BODY_LEN, true);
      const bodyKind = v.getUint8(o + R_BODY_KIND);
      const bodyAt = fpEnd + headersBytes,
        bodyEnd = bodyAt + bodyBytes;
      response = {
        status: v.getUint16(o + R_STATUS, true),
        bodyKind,
        headers: headersBytes === 0 ? '' : utf8Text(bytes, fpEnd, bodyAt),
        headersBytes,
        body: bodyKind === BYTES_BODY ? bytes.slice(bodyAt, bodyEnd) : bodyKind === STRING_BODY ? utf8Text(bytes, bodyAt, bodyEnd) : '',
        bodyBytes,
      };
    }
    return { state, attempt, owner, expiresAt, fingerprint: utf8Text(bytes, RECORD_HEADER_BYTES, fpEnd), response };
  }
}

function recordBytes(r: IdempotencyRecord): number {
  const res = r.response;
  return RECORD_HEADER_BYTES + Buffer.byteLength(r.fingerprint) + (res === null ? 0 : res.headersBytes + res.bodyBytes);
}

/** Validates and measures a response before any shared step. */
export function encodeResponse(response: unknown, maxBytes: number): StoredResponse {
  if (response === undefined) throw new InvalidArgumentError('response must be an object { status, headers?, body? }, got undefined');
  const r = plainObject('response', response);
  const status = integerIn('response.status', r.status, 100, 599);
  let headers = '';
  if (r.headers !== undefined) {
    const h = plainObject('response.headers', r.headers);
    const proto = Object.getPrototypeOf(h) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidArgumentError(
        'response.headers must be a plain object of strings (for a Headers, pass Object.fromEntries(headers)), got an instance of another class',
      );
    }
    for (const name in h) {
      const value = h[name];
      if (typeof value !== 'string')
        throw new InvalidArgumentError(`response.headers values must be strings, got ${describeValue(value)} for ${JSON.stringify(name)}`);
    }
    headers = JSON.stringify(h);
  }
  let bodyKind = NO_BODY;
  let body: string | Uint8Array = '';
  let bodyBytes = 0;
  if (typeof r.body === 'string') {
    wellFormed('response.body', r.body); // it would not replay as the same string
    bodyKind = STRING_BODY;
    body = r.body;
    bodyBytes = Buffer.byteLength(body);
  } else if (isBytes(r.body)) {
    bodyKind = BYTES_BODY;
    body = r.body;
    bodyBytes = body.length;
  } else if (r.body !== undefined) {
    throw new InvalidArgumentError(`response.body must be a string or a Uint8Array, got ${describeValue(r.body)}`);
  }
  const headersBytes = Buffer.byteLength(headers);
  const size = headersBytes + bodyBytes;
  if (size > maxBytes) {
    throw new InvalidArgumentError(
      `response is too large: ${size} bytes (body and headers as JSON), and maxResponseBytes is ${maxBytes}; ` +
        'nothing was stored and the request still holds its key (abort(token) lets a retry run)',
    );
  }
  return { status, bodyKind, headers, headersBytes, body, bodyBytes };
}

export function decodeResponse(e: StoredResponse): IdempotencyResponse {
  const out: { status: number; headers?: Record<string, string>; body?: string | Uint8Array } = { status: e.status };
  if (e.headers !== '') out.headers = JSON.parse(e.headers) as Record<string, string>;
  if (e.bodyKind !== NO_BODY) out.body = e.body;
  return out;
}
