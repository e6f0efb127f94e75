/**
 * One request header, from whichever shape a framework gives: a fetch
 * `Headers`, Node's `req.headers` (lower-case names, a repeated header
 * joined or, for a few, an array), or any record (names matched
 * case-insensitively).
 */
import { plainObject } from '../validate.js';

/** Request headers as the HTTP gates take them. */
export type RequestHeaders = { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The value of header `name` (an array joined with ", "), or undefined. */
export function headerOf(headers: RequestHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = plainObject('request.headers', headers) as Record<string, string | readonly string[] | undefined>;
  const wanted = name.toLowerCase();
  const v = record[wanted] ?? Object.entries(record).find(([k, x]) => x !== undefined && k.toLowerCase() === wanted)?.[1]; // Node's names are lower case: found at once
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
}
