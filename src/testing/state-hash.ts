/**
 * Structural hashing and equality of plain data (numbers, strings,
 * booleans, bigints, null, undefined, arrays, plain objects, Maps and Sets):
 * what the linearizability checker's memo uses for a model's states when the
 * model gives no `hash` or `equal` of its own. Neither serializes: a hash is
 * one walk of the value, an equality one walk of both.
 *
 * Equal values hash alike: objects hash their keys in sorted order, Maps and
 * Sets combine their members' hashes with an order-free sum, and -0 hashes
 * as 0 (they are equal under `sameData`, as under JSON).
 */

import { FNV_OFFSET, FNV_PRIME, fnv1a } from '../memory/fnv.js';

/*
 * Implementation notes
 *
 * The hash is 32-bit FNV-1a (memory/fnv.ts) over a stream of tagged
 * words: a tag per kind, then the content (a string's UTF-16 units, a number's two 32-bit halves
 * from a shared Float64Array, an array's length and members in order). It
 * only has to spread states over a Map's buckets: equality decides.
 */

const TAG_UNDEFINED = 1,
  TAG_NULL = 2,
  TAG_FALSE = 3,
  TAG_TRUE = 4,
  TAG_NUMBER = 5,
  TAG_STRING = 6,
  TAG_BIGINT = 7,
  TAG_ARRAY = 8,
  TAG_OBJECT = 9,
  TAG_MAP = 10,
  TAG_SET = 11,
  TAG_OTHER = 12;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

const mix = (h: number, word: number): number => Math.imul(h ^ word, FNV_PRIME);

const mixString = (h: number, s: string): number => fnv1a(s, mix(h, s.length));

function hashInto(h: number, v: unknown): number {
  switch (typeof v) {
    case 'undefined':
      return mix(h, TAG_UNDEFINED);
    case 'boolean':
      return mix(h, v ? TAG_TRUE : TAG_FALSE);
    case 'number':
      f64[0] = v === 0 ? 0 : v; // -0 as 0
      return mix(mix(mix(h, TAG_NUMBER), u32[0]!), u32[1]!);
    case 'string':
      return mixString(mix(h, TAG_STRING), v);
    case 'bigint':
      return mixString(mix(h, TAG_BIGINT), v.toString(16));
    case 'object': {
      if (v === null) return mix(h, TAG_NULL);
      if (Array.isArray(v)) {
        h = mix(mix(h, TAG_ARRAY), v.length);
        for (const x of v) h = hashInto(h, x);
        return h;
      }
      if (v instanceof Map) {
        let sum = 0;
        for (const [k, x] of v) sum = (sum + hashInto(hashInto(FNV_OFFSET, k), x)) | 0;
        return mix(mix(mix(h, TAG_MAP), v.size), sum);
      }
      if (v instanceof Set) {
        let sum = 0;
        for (const x of v) sum = (sum + hashInto(FNV_OFFSET, x)) | 0;
        return mix(mix(mix(h, TAG_SET), v.size), sum);
      }
      const keys = Object.keys(v).sort();
      h = mix(mix(h, TAG_OBJECT), keys.length);
      for (const k of keys) h = hashInto(mixString(h, k), (v as Record<string, unknown>)[k]);
      return h;
    }
    default:
      return mix(h, TAG_OTHER); // functions and symbols: equality alone tells them apart
  }
}

/** A 32-bit hash of plain data; `sameData(a, b)` implies `hashData(a) === hashData(b)`. */
export function hashData(v: unknown): number {
  return hashInto(FNV_OFFSET, v) | 0;
}

/**
 * Structural equality of plain data: primitives by `Object.is` (but 0 and
 * -0 are equal), arrays element by element, plain objects key by key
 * (in any order), Maps and Sets by membership (keys and members by
 * identity, as the collections themselves compare them).
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b) return false;
  if (typeof a === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== 'object' || a === null || b === null) return false;
  const o = b as object;
  if (Array.isArray(a)) {
    if (!Array.isArray(o) || o.length !== a.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], o[i])) return false;
    return true;
  }
  if (Array.isArray(o)) return false;
  if (a instanceof Map) {
    if (!(o instanceof Map) || o.size !== a.size) return false;
    for (const [k, x] of a) if (!o.has(k) || !sameData(x, o.get(k))) return false;
    return true;
  }
  if (a instanceof Set) {
    if (!(o instanceof Set) || o.size !== a.size) return false;
    for (const x of a) if (!o.has(x)) return false;
    return true;
  }
  if (o instanceof Map || o instanceof Set) return false;
  const ka = Object.keys(a),
    kb = Object.keys(o);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return false;
    if (!sameData((a as Record<string, unknown>)[k], (o as Record<string, unknown>)[k])) return false;
  }
  return true;
}
