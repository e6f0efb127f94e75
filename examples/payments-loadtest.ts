/**
 * `npm run loadtest`: the payments API under duplicate-heavy load while the
 * bank fails, stalls, goes down and recovers and a server thread is killed
 * (examples/payments/load.ts), then the bank's ledger check: no payment
 * charged twice, none that got a 201 lost. Against 127.0.0.1 only.
 *
 *   npx tsx examples/payments-loadtest.ts [--seconds 20] [--connections 50] [--threads 2]
 *   npx tsx examples/payments-loadtest.ts --processes 2    several processes, one Redis (node:cluster)
 */
import { parseArgs } from 'node:util';
import { runLoad } from './payments/load.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '2' },
    processes: { type: 'string', default: '1' },
  },
});
const report = await runLoad({
  durationSeconds: Number(values.seconds),
  connections: Number(values.connections),
  threads: Number(values.threads),
  processes: Number(values.processes),
  kill: true,
  log: (line) => console.log(`  ${line}`),
});
const { latencyMs: l } = report;
console.log(
  `\n${report.processes > 1 ? `${report.processes} server processes, one Redis` : `${report.threads} server thread(s)`}${report.killed ? ', one killed half-way' : ''}: ${report.requests} requests, ${Math.round(report.requestsPerSecond)} requests/s`,
);
console.log(`latency ms: p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, max ${l.max}`);
console.log(
  `statuses: ${Object.entries(report.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ')}; client errors and timeouts: ${report.errors}`,
);
console.log(`the bank charged ${report.charges} times`);
const ok = report.chargedTwice.length === 0 && report.lost.length === 0;
console.log(
  `${report.chargedTwice.length === 0 ? 'ok  ' : 'FAIL'} no payment charged twice (deduplication off at the bank)${report.chargedTwice.length > 0 ? `: ${report.chargedTwice.slice(0, 5).join(', ')}` : ''}`,
);
console.log(
  `${report.lost.length === 0 ? 'ok  ' : 'FAIL'} every 201 names a charge in the ledger${report.lost.length > 0 ? `: ${report.lost.slice(0, 5).join('; ')}` : ''}`,
);
process.exit(ok ? 0 : 1);
