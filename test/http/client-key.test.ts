import { describe, expect, it } from 'vitest';
import { addressKey, clientKey, RefusedKey, MAX_API_KEY_LENGTH } from '../../src/http/client-key.js';

describe('addressKey: IPv6 clients grouped by network, as express-rate-limit 8 does', () => {
  it.each([
    ['203.0.113.7', 56, '203.0.113.7'],
    ['::ffff:203.0.113.7', 56, '203.0.113.7'], // a dual-stack socket's IPv4 client is that IPv4 client
    ['::FFFF:203.0.113.7', 56, '203.0.113.7'],
    ['2001:db8:1234:5678:9abc:def0:1234:5678', 56, '2001:db8:1234:5600::/56'],
    ['2001:db8:1234:56ff::1', 56, '2001:db8:1234:5600::/56'],
    ['2001:db8:1234:5678:9abc:def0:1234:5678', 64, '2001:db8:1234:5678::/64'],
    ['2001:db8:1234:5678:9abc:def0:1234:5678', 128, '2001:db8:1234:5678:9abc:def0:1234:5678/128'],
    ['2001:db8:1234:5678:9abc:def0:1234:5678', 1, '::/1'],
    ['2001:db8::1', false, '2001:db8::1'],
    ['::1', 56, '::/56'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
    ['64:ff9b::192.0.2.33', 96, '64:ff9b::/96'],
    ['2001:0:0:1:0:0:0:1', 128, '2001:0:0:1::1/128'], // RFC 5952: the longest zero run is the one compressed
  ] as const)('%s /%s is %s', (address, subnet, key) => {
    expect(addressKey(address, subnet)).toBe(key);
  });

  it('two addresses of one /56 share a key; of two /56s, they do not', () => {
    expect(addressKey('2001:db8:aa:bb01::1')).toBe(addressKey('2001:db8:aa:bbff:ffff::2'));
    expect(addressKey('2001:db8:aa:bb01::1')).not.toBe(addressKey('2001:db8:aa:bc01::1'));
  });
});

describe('clientKey', () => {
  it('an x-api-key first, else the address; the prefixes keep the two apart', () => {
    expect(clientKey('k_123', '203.0.113.7', 56)).toBe('key:k_123');
    expect(clientKey(undefined, '203.0.113.7', 56)).toBe('ip:203.0.113.7');
    expect(clientKey('203.0.113.7', undefined, 56)).not.toBe(clientKey(undefined, '203.0.113.7', 56));
  });

  it.each([
    ['x'.repeat(MAX_API_KEY_LENGTH + 1), /longer than 200/],
    ['', /visible ASCII/],
    ['has space', /visible ASCII/],
    ['\u0000\u0001binary', /visible ASCII/],
    ['caf\u00e9', /visible ASCII/],
  ])('a hostile x-api-key %#: refused with the reason', (key, reason) => {
    const r = clientKey(key, '203.0.113.7', 56);
    expect(r).toBeInstanceOf(RefusedKey);
    expect((r as RefusedKey).reason).toMatch(reason);
  });

  it('no key and no address: refused (the app must say how to key)', () => {
    expect(clientKey(undefined, undefined, 56)).toBeInstanceOf(RefusedKey);
  });
});
