/**
 * The package's entry points, checked on the sources (the smoke test checks
 * the build): integrations are subpath exports of optional peer
 * dependencies, and the main entry reaches neither the integrations nor
 * their packages, nor exports sabre's internals.
 */
import { readFileSync, existsSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as sabre from '../../src/index.js';
import * as comlinkEntry from '../../src/integrations/comlink.js';
import * as honoEntry from '../../src/integrations/hono/index.js';
import * as piscinaEntry from '../../src/integrations/piscina.js';
import * as redisEntry from '../../src/redis/index.js';

const root = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  files: string[];
};
const PEERS = ['piscina', 'comlink', 'hono', 'ioredis', 'redis', '@redis/client'];
const isPeer = (specifier: string) => PEERS.some((p) => specifier === p || specifier.startsWith(`${p}/`));

/** The src/ modules reachable from `entry` (every import, `import type` included) and the packages they name. */
function sourceGraph(entry: string): { modules: string[]; packages: string[] } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const queue = [new URL(entry, root)];
  while (queue.length > 0) {
    const url = queue.pop()!;
    const path = url.href.slice(root.href.length);
    if (modules.has(path)) continue;
    modules.add(path);
    for (const { fileName } of ts.preProcessFile(readFileSync(url, 'utf8'), true, true).importedFiles) {
      if (fileName.startsWith('.')) queue.push(new URL(fileName.replace(/\.js$/, '.ts'), url));
      else packages.add(fileName);
    }
  }
  return { modules: [...modules], packages: [...packages] };
}

describe('package.json', () => {
  it('makes piscina, comlink, hono and the Redis clients optional peer dependencies (and dev dependencies for the repo)', () => {
    for (const name of PEERS.filter((p) => p !== '@redis/client')) {
      expect(pkg.dependencies?.[name], `${name} in dependencies`).toBeUndefined();
      expect(pkg.peerDependencies?.[name], `${name} in peerDependencies`).toBeTypeOf('string');
      expect(pkg.peerDependenciesMeta?.[name]?.optional, `${name} optional`).toBe(true);
      expect(pkg.devDependencies?.[name], `${name} in devDependencies`).toBe(pkg.peerDependencies?.[name]);
    }
  });

  it('gives each integration a subpath, and every export target is a src/ module built to dist/', () => {
    expect(pkg.exports['./piscina']).toBe('./dist/integrations/piscina.js');
    expect(pkg.exports['./comlink']).toBe('./dist/integrations/comlink.js');
    expect(pkg.exports['./hono']).toBe('./dist/integrations/hono/index.js');
    expect(pkg.exports['./redis']).toBe('./dist/redis/index.js');
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      expect(target, subpath).toMatch(/^\.\/dist\/.+\.js$/);
      const source = String(target)
        .replace(/^\.\/dist\//, 'src/')
        .replace(/\.js$/, '.ts');
      expect(existsSync(new URL(source, root)), `${subpath} -> ${source}`).toBe(true);
    }
    expect(pkg.files).toEqual(['dist', 'README.md']);
  });
});

describe('the main entry', () => {
  it('reaches no integration module and imports no peer (piscina, comlink, hono), even as types', () => {
    for (const entry of ['src/index.ts', 'src/testing/index.ts']) {
      const { modules, packages } = sourceGraph(entry);
      expect(modules.length, entry).toBeGreaterThan(1);
      expect(
        modules.filter((m) => m.startsWith('src/integrations/') || m.startsWith('src/redis/')),
        entry,
      ).toEqual([]);
      expect(packages.filter(isPeer), entry).toEqual([]);
    }
  });

  it('the graph check sees a peer import when there is one (control)', () => {
    expect(sourceGraph('src/integrations/comlink.ts').modules).toContain('src/integrations/kinds.ts');
    expect(sourceGraph('test/integrations/comlink.test.ts').packages.filter(isPeer)).toContain('comlink');
  });

  it('keeps internals and the integrations out', () => {
    const internal = [
      'Backoff',
      'CACHE_LINE_BYTES',
      'LIVENESS_SLICE_MS',
      'resolveCodec',
      'CODEC_NAMES',
      'registerKind',
      'registeredKinds',
      'reopen',
      'isSabrePrimitive',
      'registerComlinkHandlers',
      'COMLINK_HANDLER_NAME',
      'toTaskArgs',
      'fromTaskArgs',
      'piscinaTask',
    ];
    expect(internal.filter((name) => name in sabre)).toEqual([]);
    for (const name of ['Mutex', 'ThreadRegistry', 'watchPool', 'watchWorker', 'spawnWorker', 'sibling', 'rateLimitHeaders'])
      expect(sabre, name).toHaveProperty(name);
  });
});

describe('limits live on their classes', () => {
  it('the main entry exports no limit constants (only the two HTTP header names)', () => {
    expect(
      Object.keys(sabre)
        .filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name))
        .sort(),
    ).toEqual(['IDEMPOTENCY_KEY_HEADER', 'IDEMPOTENT_REPLAYED_HEADER']);
  });

  it("each class's limits come from its declared options", () => {
    expect(sabre.TokenBucket.limits.capacity).toEqual({ min: 1, max: 2 ** 24, default: 10_000 });
    expect(sabre.TokenBucket.limits.burst).toEqual({ min: 1, max: 2 ** 30 });
    expect(sabre.Semaphore.limits.permits).toEqual({ min: 1, max: 0x7fffffff });
    expect(sabre.SharedHashTable.limits.maxKeyBytes.max).toBe(65_535);
    expect(sabre.CircuitBreaker.limits.halfOpenMaxCalls).toEqual({ min: 1, max: 64, default: 1 });
    expect(sabre.Mutex.starvationMs).toBe(1);
    expect(Object.isFrozen(sabre.Cache.limits) && Object.isFrozen(sabre.Cache.limits.capacity)).toBe(true);
  });
});

describe('the integration entries', () => {
  it('sabre/piscina: task arguments, task filenames and registerKind; not the kind table itself', () => {
    expect(Object.keys(piscinaEntry).sort()).toEqual(['fromTaskArgs', 'piscinaTask', 'registerKind', 'toTaskArgs']);
  });

  it('sabre/hono: the middleware, and nothing it is made of', () => {
    expect(Object.keys(honoEntry).sort()).toEqual(['circuitBreaker', 'idempotency', 'rateLimit']);
    expect(sourceGraph('src/integrations/hono/index.ts').packages.filter(isPeer)).toEqual(['hono', 'hono/factory']);
  });

  it('sabre/redis: the Redis classes, importing no client package (the client is passed in)', () => {
    expect(Object.keys(redisEntry).sort()).toEqual([
      'RedisCircuitBreaker',
      'RedisIdempotencyStore',
      'RedisLease',
      'RedisLeaseLock',
      'RedisOnceRegistry',
      'RedisSlidingWindow',
      'RedisTokenBucket',
      'RedisVoteRegistry',
      'TwoLevelLimiter',
    ]);
    expect(sourceGraph('src/redis/index.ts').packages.filter(isPeer)).toEqual([]);
  });

  it('sabre/comlink: the transfer handlers and registerKind; not the kind table itself', () => {
    expect(Object.keys(comlinkEntry).sort()).toEqual(['COMLINK_HANDLER_NAME', 'registerComlinkHandlers', 'registerKind']);
  });
});
