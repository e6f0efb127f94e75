// What doc fragments may use without defining it: the reader's own things (their pool, their
// request, their render function). scripts/doctest.mjs imports into each fragment the names it
// uses from here, as it does sabre's. Nothing here may be one of sabre's names (the doctest
// refuses it), so a renamed sabre export can never be hidden by a stand-in.
// Only the declarations' types matter: fragments are type-checked, never run.
import type { Worker } from 'node:worker_threads';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hono } from 'hono';
import type { Piscina } from 'piscina';
import type { AtomicCounterHandle, IdempotencyStore, Mutex, SharedHashTable } from 'sabre';

export { Piscina } from 'piscina';
export { fc, test } from '@fast-check/vitest';
export { expect } from 'vitest';
export { workerData } from 'node:worker_threads';

// Where a fragment's data come from.
export declare const url: string;
export declare const id: string;
export declare const key: string;
export declare const body: string;
export declare const username: string;
export declare const userId: string;
export declare const postId: string;
export declare const clientId: string;
export declare const owner: string;
export declare const method: string;
export declare const path: string;
export declare const headers: Record<string, string>;
/** A handle received from another thread (`workerData`, a task argument, a message). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stands for any class's handle in the docs' examples (`Mutex.from(handle)`, `Cache.from(handle)`)
export declare const handle: any;

// Threads the reader started.
export declare const pool: Piscina;
export declare const worker: Worker;
export declare const workers: Worker[];
export declare const mutex: Mutex;
/** The API a Comlink worker exposes. */
export interface Api {
  work(mutex: Mutex): Promise<void>;
}

// HTTP: node:http's request and response, and a reply helper of the reader's framework.
export declare const req: IncomingMessage & { ip: string };
export declare const res: ServerResponse;
export declare function reply(status: number, headers?: object): Response;
export declare function text(req: IncomingMessage): Promise<string>;
export declare const app: Hono;
export declare const store: IdempotencyStore;

// The reader's application.
export declare function render(what: unknown): Promise<string>;
export declare function renderReport(id: string): Promise<string>;
export declare function buildReport(fencingToken: number): void;
export declare function fetchJson(url: string, init?: { signal?: AbortSignal }): Promise<unknown>;
export declare const payments: { charge(request: unknown): Promise<{ id: string; amount: number }> };
export declare const provider: { charge(request: unknown, options: { idempotencyKey?: string }): Promise<{ id: string; amount: number }> };
export declare function charge(body: string): Promise<{ status: number; headers?: Record<string, string>; body?: string }>;
export declare const posts: { increment(postId: string): Promise<void> };
export declare function repair(): Promise<void>;
export declare function criticalSection(): void;
export declare function update(): Promise<void>;
export declare function read(): Promise<unknown>;
export declare const table: SharedHashTable<number>;
export declare function buildSharedTable(table: SharedHashTable<number>): void;
export declare const queue: { length: number };
export declare const item: unknown;
export declare function put(queue: { length: number }, item: unknown): void;
export declare function take(queue: { length: number }): unknown;

// A property test's parts (sabre/testing).
export declare const seed: number;
export declare const program: URL;
export declare function setup(): { counter: AtomicCounterHandle };
