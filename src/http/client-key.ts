/**
 * Who a request comes from, as a rate limiter's key: the `x-api-key` header
 * when the request has one, else the client's address, with IPv6 addresses
 * grouped by network (a /56 by default, as express-rate-limit 8 does: one
 * subscriber usually holds a whole /56 or /64, and would otherwise get a
 * fresh quota from each of its 2^72 addresses).
 */
import { isIPv6 } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

/**
 * The longest `x-api-key` taken as a key, in characters: with its prefix it
 * stays within a limiter's default `maxKeyBytes` (256).
 */
export const MAX_API_KEY_LENGTH = 200;

/** Visible ASCII only: a key is compared as it is sent, and nothing else can be typed into a header reliably. */
const API_KEY = /^[\x21-\x7e]+$/;

/**
 * A request's key: `key:<x-api-key>` or `ip:<address or network>`. The
 * prefixes keep an API key that looks like an address from sharing that
 * address's quota.
 * @returns the key, or a string saying why the API key is refused (see `isRefusedKey`)
 */
export function clientKey(apiKey: string | undefined, address: string | undefined, ipv6Subnet: number | false): string | RefusedKey {
  if (apiKey !== undefined) {
    if (apiKey.length > MAX_API_KEY_LENGTH) return new RefusedKey(`the x-api-key header is longer than ${MAX_API_KEY_LENGTH} characters`);
    if (!API_KEY.test(apiKey)) return new RefusedKey('the x-api-key header must be visible ASCII characters (no spaces or control bytes)');
    return `key:${apiKey}`;
  }
  if (address === undefined || address === '') return new RefusedKey(NO_ADDRESS);
  return `ip:${addressKey(address, ipv6Subnet)}`;
}

/** Why a request has no key: answered 400 by the middleware (or, for NO_ADDRESS, a server error: the app must say how to key). */
export class RefusedKey {
  constructor(readonly reason: string) {}
}

export const NO_ADDRESS =
  "the client's address is unknown here (not on Node's HTTP server, or behind a proxy): pass keyGenerator to say whom to limit";

/** `ipv6Subnet` as an option: a prefix length 1..128, or false to key each IPv6 address alone. */
export function checkSubnet(v: unknown, name: string): number | false {
  if (v === false || (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 128)) return v;
  throw new InvalidArgumentError(`${name} must be an integer prefix length in [1, 128] or false, got ${describeValue(v)}`);
}

/**
 * An address as a key: IPv4 as is; an IPv4-mapped IPv6 address as its IPv4
 * address (Node reports `::ffff:1.2.3.4` on a dual-stack socket); another
 * IPv6 address as its network, `2001:db8:0:ab00::/56`.
 */
export function addressKey(address: string, ipv6Subnet: number | false = 56): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (ipv6Subnet === false || !isIPv6(address)) return address;
  const words = ipv6Words(address);
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, ipv6Subnet - i * 16));
    words[i] = keep === 0 ? 0 : words[i]! & ((0xffff << (16 - keep)) & 0xffff);
  }
  return `${formatIPv6(words)}/${ipv6Subnet}`;
}

/** The eight 16-bit words of a valid IPv6 address (a zone id is dropped). */
function ipv6Words(address: string): number[] {
  let a = address.split('%')[0]!;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (v4 !== null) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/** RFC 5952's text form: lower case, no leading zeros, the longest run of two or more zero words as `::`. */
function formatIPv6(words: readonly number[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}
