/**
 * A worker thread that serves the payments API on the main thread's port
 * (`reusePort`), over the shared state it is handed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serve } from './serve.js';
import { openShared, type PaymentsHandles } from './shared.js';

export interface ServerThreadData {
  readonly handles: PaymentsHandles;
  readonly bankUrl: string;
  readonly port: number;
  readonly poolThreads: number;
  readonly iterations: number;
  readonly headersTimeoutMs: number;
  readonly retryOn: 'never-started' | 'any-failure';
}

const d = workerData as ServerThreadData;
const serving = await serve({ ...d, shared: openShared(d.handles), reusePort: true });
parentPort!.postMessage({ listening: serving.port });
parentPort!.on('message', (m: { close?: boolean }) => {
  if (m.close === true) void serving.close().then(() => process.exit(0));
});
