/**
 * Cross-process runs for the keyed policies' properties: `processes` Node
 * processes (forked once per test file, with tsx), each with its worker
 * threads kept warm; `run(scenario)` gives every thread of every process the
 * scenario with one common start time and gathers what each process reports.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ProcessReport, Scenario } from './workloads.js';
import type { RunMessage } from './node-process.js';

export interface Cluster {
  /** Runs `scenario` on `threadsPerProcess` threads of each of the first `processes` processes. */
  run(scenario: Scenario, shape: { readonly processes: number; readonly threadsPerProcess: number }): Promise<ProcessReport[]>;
  close(): Promise<void>;
}

export async function startCluster(processes: number, url: string): Promise<Cluster> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    const child = fork(new URL('./node-process.ts', import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`a cluster process exited with code ${code} before it was ready`)));
    });
    children.push(child);
  }
  let runs = 0;
  return {
    run: async (scenario, shape) => {
      const startAt = Date.now() + 100;
      const id = ++runs;
      // Every process answers every run (a failed one too), so a run's answers never reach the next one.
      const answers = await Promise.allSettled(
        children.slice(0, shape.processes).map(
          (child, p) =>
            new Promise<ProcessReport>((resolve, reject) => {
              const onMessage = (r: { id?: number; ok?: ProcessReport; error?: string }) => {
                if (r.id !== id) return;
                child.off('message', onMessage);
                if (r.ok !== undefined) resolve(r.ok);
                else reject(new Error(r.error));
              };
              child.on('message', onMessage);
              const m: RunMessage = {
                id,
                scenario,
                threads: shape.threadsPerProcess,
                firstThread: p * shape.threadsPerProcess,
                url,
                startAt,
              };
              child.send(m);
            }),
        ),
      );
      const failed = answers.find((a) => a.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      return answers.map((a) => (a as PromiseFulfilledResult<ProcessReport>).value);
    },
    close: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) {
                resolve();
                return;
              }
              c.once('exit', () => resolve());
              c.disconnect();
            }),
        ),
      );
    },
  };
}
