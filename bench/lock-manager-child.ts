/**
 * Benchmark 11 in a child process of another Node (`run.ts` starts it under
 * Node 24, which has Node's own Web Locks): prints the section as JSON.
 *   node --import tsx bench/lock-manager-child.ts '<LockManagerConfig as JSON>'
 */
import { lockManager, type LockManagerConfig } from './lock-manager.js';

const cfg = JSON.parse(process.argv[2]!) as LockManagerConfig;
process.stdout.write(JSON.stringify(await lockManager(cfg)));
process.exit(0);
