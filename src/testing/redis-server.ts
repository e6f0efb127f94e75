/**
 * startRedisServer: a real `redis-server` for tests, examples and
 * benchmarks, on a free loopback port with its own temporary directory,
 * stopped (and the directory removed) by `stop()` or when the process exits.
 * `pause()` / `resume()` freeze it (SIGSTOP / SIGCONT: a server that stops
 * answering), `restart()` stops it and starts it again on the same port and
 * directory (with `persistent: true`, every acknowledged write survives).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../errors.js';

export interface RedisServerOptions {
  /** The server's executable (default `redis-server` on the PATH). */
  readonly command?: string;
  /**
   * Keep every acknowledged write across a restart: an append-only file
   * synced at each write (`appendfsync always`). Default false (no disk).
   */
  readonly persistent?: boolean;
  /** How long to wait for the server to answer, in ms (default 10,000). */
  readonly startTimeoutMs?: number;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  resume(): void;
  /** Stops the server and starts it again on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING on `port`. */
async function answers(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.setTimeout(500);
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new UnavailableError(`redis-server on port ${port} did not answer PING in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a `redis-server` on a free loopback port.
 * @throws UnavailableError when there is no `redis-server` to start (the
 *   message says how to install one) or it does not answer in time
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const command = options.command ?? 'redis-server';
  const wait = options.startTimeoutMs ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'sabre-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
  args.push(...(options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  let child: ChildProcess | undefined;
  const kill = (): void => void child?.kill('SIGKILL');
  process.once('exit', kill);

  const start = async (): Promise<void> => {
    const c = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    const failed = new Promise<never>((_, reject) => {
      c.once('error', (e) =>
        reject(
          new UnavailableError(
            `could not start ${command}: ${e.message}. Install Redis (Debian: apt-get install -y redis-server) or point SABRE_REDIS_URL at a server`,
            e,
          ),
        ),
      );
      c.once('exit', (code) => reject(new UnavailableError(`${command} exited with code ${code} before it answered`)));
    });
    failed.catch(() => {}); // observed below; after start, an exit is stop()'s business
    await Promise.race([answers(port, Date.now() + wait), failed]);
  };
  const stopChild = async (): Promise<void> => {
    const c = child;
    if (c?.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    const hard = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(hard);
  };

  try {
    await start();
  } catch (e) {
    kill();
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', kill);
    throw e;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    restart: async () => {
      await stopChild();
      await start();
    },
    stop: async () => {
      await stopChild();
      process.off('exit', kill);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
