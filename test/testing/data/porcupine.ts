/**
 * Parsers of porcupine's test histories (data/porcupine/README.md) into
 * runThreads' events: each log line is one stamp, a Jepsen process is a
 * thread, and an operation whose outcome is unknown is indeterminate.
 */
import { readFileSync } from 'node:fs';
import type { HistoryEvent } from '../../../src/testing/index.js';

const dir = new URL('./porcupine/', import.meta.url);

/** The logs porcupine's tests expect linearizable (every other one, but 95, illegal; etcd 95 never started). */
export const ETCD_LINEARIZABLE = new Set([2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102]);
export const ETCD_LOGS = Array.from({ length: 103 }, (_, i) => i).filter((i) => i !== 95);

/** Events from lines, with one open operation per process. */
class Builder {
  readonly events: HistoryEvent[] = [];
  private readonly open = new Map<number, { op: number; name: string }>();
  private readonly next = new Map<number, number>();

  invoke(time: number, thread: number, name: string, arg: unknown): void {
    const op = this.next.get(thread) ?? 0;
    this.next.set(thread, op + 1);
    this.open.set(thread, { op, name });
    this.events.push({ type: 'invoke', time, thread, op, name, arg });
  }

  ret(time: number, thread: number, outcome: { value: unknown } | { unknown: true }): void {
    const o = this.open.get(thread);
    if (o === undefined) throw new Error(`line ${time}: process ${thread} returns with nothing open`);
    this.open.delete(thread);
    this.events.push({ type: 'return', time, thread, op: o.op, name: o.name, ...outcome });
  }
}

/**
 * etcd as a register: `read` → number or null (nil), `write(v)`,
 * `cas({ expected, next })` → boolean. A timed-out read returns `unknown`;
 * an `:info` write or cas never returns (indeterminate).
 */
export function parseJepsenLog(n: number): HistoryEvent[] {
  const text = readFileSync(new URL(`jepsen/etcd_${String(n).padStart(3, '0')}.log`, dir), 'utf8');
  const b = new Builder();
  const line = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*)$/;
  text.split('\n').forEach((l, time) => {
    const m = line.exec(l.trimEnd());
    if (m === null) return;
    const [, p, type, f, rest] = m as unknown as [string, string, string, string, string];
    const thread = Number(p);
    const cas = /^\[(\d+)\s+(\d+)\]$/.exec(rest);
    if (type === 'invoke') {
      if (f === 'read') b.invoke(time, thread, 'read', null);
      else if (f === 'write') b.invoke(time, thread, 'write', Number(rest));
      else b.invoke(time, thread, 'cas', { expected: Number(cas![1]), next: Number(cas![2]) });
    } else if (type === 'ok') {
      b.ret(time, thread, { value: f === 'read' ? (rest === 'nil' ? null : Number(rest)) : f === 'cas' ? true : undefined });
    } else if (type === 'fail') {
      b.ret(time, thread, f === 'cas' ? { value: false } : { unknown: true });
    } // 'info': the outcome is unknown and the process never returns
  });
  return b.events;
}

/** A key-value history: `get({ key })` → string, `put({ key, value })`, `append({ key, value })`. */
export function parseKvLog(name: string): HistoryEvent[] {
  const text = readFileSync(new URL(`kv/${name}.txt`, dir), 'utf8');
  const b = new Builder();
  const line = /^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "(.*)", :value (nil|"(.*)")\}$/;
  text.split('\n').forEach((l, time) => {
    if (l.trim() === '') return;
    const m = line.exec(l.trim());
    if (m === null) throw new Error(`kv/${name}.txt line ${time + 1} is not a history event: ${l}`);
    const [, p, type, f, key, , value] = m as unknown as [string, string, string, string, string, string, string | undefined];
    const thread = Number(p);
    if (type === 'invoke') b.invoke(time, thread, f, f === 'get' ? { key } : { key, value });
    else b.ret(time, thread, { value: f === 'get' ? value : undefined });
  });
  return b.events;
}
