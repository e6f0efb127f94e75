/**
 * Small helpers shared by the benchmark sections: medians, interleaved rounds,
 * and the Markdown tables that `run.ts` prints and writes to `bench/README.md`.
 *
 * Every comparison is measured side by side in one run: round r runs variant
 * A, then B, then C, … (the order rotates each round so that no variant always
 * runs first, right after a GC or a frequency change), and the table reports
 * each variant's median over the rounds. Ratios are ratios of medians.
 */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The median of per-round ratios a[r] / b[r]: A and B ran back to back in each
 * round, so a slow moment of the machine mostly cancels out of each ratio.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}

/** The q-quantile (0..1) of xs, by linear interpolation. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q,
    lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function min(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.min(...xs);
}
export function max(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.max(...xs);
}

/**
 * Runs `rounds` rounds; in each, every variant once, in an order rotated by
 * the round number. Returns each variant's samples, in variant order.
 */
export async function interleave<T>(rounds: number, variants: readonly (() => T | Promise<T>)[]): Promise<T[][]> {
  const samples: T[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = (k + r) % variants.length;
      samples[v]!.push(await variants[v]!());
    }
  }
  return samples;
}

/** Nanoseconds elapsed since `start` (a `process.hrtime.bigint()` value). */
export function nsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/**
 * Times a synchronous loop body `run(n)` (which performs n operations) for
 * about `ms` milliseconds, in batches of `batch`, and returns ns per op.
 */
export function timeLoop(run: (n: number) => void, ms: number, batch: number): number {
  const budget = ms * 1e6;
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed: number;
  do {
    run(batch);
    ops += batch;
    elapsed = nsSince(start);
  } while (elapsed < budget);
  return elapsed / ops;
}

/** The async form of `timeLoop`: `run(n)` resolves after n operations. */
export async function timeLoopAsync(run: (n: number) => Promise<void>, ms: number, batch: number): Promise<number> {
  const budget = ms * 1e6;
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed: number;
  do {
    await run(batch);
    ops += batch;
    elapsed = nsSince(start);
  } while (elapsed < budget);
  return elapsed / ops;
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

export function fmtRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return 'n/a';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`;
  return `${perSecond.toFixed(0)} /s`;
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

export function fmtPct(r: number): string {
  return Number.isFinite(r) ? `${(r * 100).toFixed(0)}%` : 'n/a';
}

/** One benchmark's verdict: shown as "met" / "NOT met" (never a failure). */
export interface Goal {
  readonly text: string;
  readonly met: boolean;
  /** The figures the verdict rests on, in words. */
  readonly detail: string;
}

/** A rendered section: a title, a table, goals and free notes. */
export interface Section {
  readonly title: string;
  readonly intro?: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly goals: readonly Goal[];
  readonly notes?: readonly string[];
  /** The figures as numbers, for `bench/results/<date>.json` and the charts (the table's strings are for reading). */
  readonly data?: readonly Readonly<Record<string, number | string>>[];
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

export function renderSection(s: Section): string {
  const parts = [`### ${s.title}`];
  if (s.intro !== undefined) parts.push(s.intro);
  parts.push(renderTable(s.header, s.rows));
  if (s.goals.length > 0) {
    parts.push(s.goals.map((g) => `- Goal: ${g.text}: **${g.met ? 'met' : 'NOT met'}** (${g.detail})`).join('\n'));
  }
  if (s.notes !== undefined && s.notes.length > 0) parts.push(s.notes.map((n) => `- ${n}`).join('\n'));
  return parts.join('\n\n');
}
