/**
 * renderHistory: a history as a self-contained HTML page (no script, no
 * external file): a timeline of every operation by thread, then one per
 * partition; each operation a bar from its invoke to its return, coloured
 * by what the check found (placed in the linearization, could not be
 * placed, indeterminate, not reached), with the model states before and
 * after it on hover; and, for an illegal history, the longest linearization
 * found with the state after each step, and each operation that could not
 * follow it with the state it met.
 *
 * @example
 * ```ts
 * const { history } = await runThreads({ threads: [20, 20], program, setup, seed });
 * const { result, file } = renderHistory(history, { model: counterModel(0), file: 'history.html' });
 * if (result?.result !== 'ok') console.log(`see ${file}`);
 * ```
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { describeOperation, operationsOf, type Operation } from './history.js';
import { checkLinearizable, type CheckResult } from './linearizability.js';
import type { Model } from './model.js';
import type { HistoryEvent } from './program.js';

export interface RenderHistoryOptions<S> {
  /** The model to check the history against; the page shows the verdict and the states. */
  readonly model?: Model<S>;
  /** A check of this history already made (else one is made with `model`). */
  readonly result?: CheckResult;
  /** The check's budget when the page makes it (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Where to write the page; without it, only the HTML is returned. */
  readonly file?: string;
  readonly title?: string;
  /** Lines under the title (the seed, the schedule, the replay command). */
  readonly notes?: readonly string[];
}

export interface RenderedHistory {
  readonly html: string;
  /** The absolute path written, when `file` was given. */
  readonly file?: string;
  /** The check shown (undefined without a model or result). */
  readonly result?: CheckResult;
}

/** Partitions drawn in full beyond the ones that broke or were undecided. */
const MAX_PARTITIONS_DRAWN = 20;

const escape = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

type Status = 'placed' | 'unplaced' | 'indeterminate' | 'unreached';

interface OpView {
  status: Status;
  order?: number;
  before?: string;
  after?: string;
}

/**
 * Renders `history` as an HTML page (and writes it to `file`).
 * @throws InvalidArgumentError for a malformed history or options (as checkLinearizable)
 */
export function renderHistory<S>(history: readonly HistoryEvent[], options: RenderHistoryOptions<S> = {}): RenderedHistory {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`renderHistory options must be an object`);
  const { model } = options;
  const result =
    options.result ?? (model !== undefined ? checkLinearizable(history, model, { timeoutMs: options.timeoutMs ?? 10_000 }) : undefined);
  const ops = result?.operations ?? operationsOf(history);
  const parts = result?.partitions ?? [ops];
  const describe = (op: Operation): string => (model?.describe ? model.describe(op) : describeOperation(op));
  const stateText = (s: unknown): string => {
    if (model?.describeState) return model.describeState(s as S);
    try {
      return JSON.stringify(s) ?? String(s);
    } catch {
      return String(s);
    }
  };

  // What the check says about each operation, per partition.
  const views = parts.map(() => new Map<Operation, OpView>());
  const orders: (readonly Operation[] | undefined)[] = parts.map((_, p) =>
    result?.result === 'ok' ? result.linearizations?.[p] : result?.partial?.partition === p ? result.partial.linearization : undefined,
  );
  parts.forEach((part, p) => {
    const view = views[p]!;
    for (const op of part) view.set(op, { status: op.ret === Infinity ? 'indeterminate' : 'unreached' });
    const order = orders[p];
    if (order === undefined || model === undefined) return;
    let state = model.init();
    order.forEach((op, k) => {
      const before = stateText(state);
      state = model.step(state, op as never, op.output).state;
      view.set(op, { status: 'placed', order: k + 1, before, after: stateText(state) });
    });
    if (result?.partial?.partition === p) {
      for (const op of result.partial.unplaced) view.set(op, { status: 'unplaced', before: stateText(state) });
    }
  });

  // One x axis for the whole page: the stamps by rank, so sparse stamps stay readable.
  const stamps = [...new Set(ops.flatMap((o) => [o.call, o.ret, o.endedAt ?? o.call]).filter((t) => t !== Infinity))].sort((a, b) => a - b);
  const rank = new Map(stamps.map((t, i) => [t, i]));
  const x = (t: number): number => (t === Infinity ? 100 : stamps.length <= 1 ? 0 : (100 * rank.get(t)!) / (stamps.length - 1));

  const bar = (op: Operation, view: OpView | undefined): string => {
    const status = view?.status ?? 'unreached';
    const left = x(op.call),
      width = Math.max(0.6, x(op.ret) - left);
    const lines = [
      describe(op),
      `thread ${op.thread}, op ${op.op}: invoked at ${op.call}, ${op.ret === Infinity ? (op.endedAt !== undefined ? `outcome unknown (went on at ${op.endedAt})` : 'never returned') : `returned at ${op.ret}`}`,
    ];
    if (view?.order !== undefined) lines.push(`linearized #${view.order}`, `state before: ${view.before}`, `state after: ${view.after}`);
    if (status === 'unplaced') lines.push(`could not take effect after the longest linearization, in state: ${view!.before}`);
    return `<div class="op ${status}" style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%" title="${escape(lines.join('\n'))}">${escape(describe(op))}</div>`;
  };

  const timeline = (list: readonly Operation[], view: (op: Operation) => OpView | undefined): string => {
    const threads = [...new Set(list.map((o) => o.thread))].sort((a, b) => a - b);
    return `<div class="timeline">${threads
      .map(
        (t) =>
          `<div class="row"><div class="label">t${t}</div><div class="lane">${list
            .filter((o) => o.thread === t)
            .map((o) => bar(o, view(o)))
            .join('')}</div></div>`,
      )
      .join('')}</div>`;
  };

  const firstView = (op: Operation): OpView | undefined => {
    let found: OpView | undefined;
    for (const v of views) {
      const mine = v.get(op);
      if (mine !== undefined && (found === undefined || mine.status === 'unplaced' || found.status === 'unreached')) found = mine;
    }
    return found;
  };

  const verdict = result === undefined ? 'not checked (no model)' : result.result;
  const sections: string[] = [];
  const interesting = parts.map((_, p) => p).filter((p) => result?.partial?.partition === p || (result?.undecided ?? []).includes(p));
  const others = parts.map((_, p) => p).filter((p) => !interesting.includes(p));
  const drawn = [...interesting, ...others.slice(0, MAX_PARTITIONS_DRAWN)];
  if (parts.length > 1) {
    for (const p of drawn) {
      const status =
        result?.partial?.partition === p
          ? 'illegal'
          : (result?.undecided ?? []).includes(p)
            ? 'undecided'
            : result !== undefined && result.result !== 'unknown'
              ? result.result === 'ok'
                ? 'linearizable'
                : 'not reached (the check stopped at the illegal partition)'
              : 'linearizable';
      sections.push(
        `<h2>Partition ${p} (${parts[p]!.length} operations): ${escape(status)}</h2>${timeline(parts[p]!, (op) => views[p]!.get(op))}`,
      );
    }
    if (drawn.length < parts.length) sections.push(`<p>${parts.length - drawn.length} more partitions, linearizable, not drawn.</p>`);
  }
  if (result?.partial !== undefined && model !== undefined) {
    const p = result.partial.partition;
    const view = views[p]!;
    const steps = result.partial.linearization
      .map((op) => `<li><code>${escape(describe(op))}</code> → <code>${escape(view.get(op)?.after ?? '')}</code></li>`)
      .join('');
    const stuck = result.partial.unplaced
      .map(
        (op) =>
          `<li><code>${escape(describe(op))}</code> cannot take effect in state <code>${escape(view.get(op)?.before ?? '')}</code></li>`,
      )
      .join('');
    sections.push(
      `<h2>Where it broke (partition ${p})</h2><p>The longest linearization found, with the model state after each operation:</p><ol>${steps}</ol>` +
        `<p>After it, in state <code>${escape(stateText(result.partial.state))}</code>, none of these can come next:</p><ul class="stuck">${stuck}</ul>`,
    );
  }

  const title = options.title ?? 'History';
  const notes = (options.notes ?? []).map((n) => `<p class="note"><code>${escape(n)}</code></p>`).join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.verdict{font-weight:600}.verdict.ok{color:#17703a}.verdict.illegal{color:#b3261e}.verdict.unknown{color:#8a6100}
.timeline{border:1px solid #ddd;padding:6px 8px}
.row{display:flex;align-items:center;height:26px}
.label{width:40px;color:#666;font-family:monospace}
.lane{position:relative;flex:1;height:20px}
.op{position:absolute;top:1px;height:18px;border-radius:3px;font:11px/18px monospace;padding:0 3px;box-sizing:border-box;overflow:hidden;white-space:nowrap;border:1px solid rgba(0,0,0,.25)}
.placed{background:#cfead6}.unplaced{background:#f6c5c0;border-color:#b3261e}
.indeterminate{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#ddd 4px,#ddd 8px)}.unreached{background:#e8e8e8;color:#777}
.legend span{display:inline-block;padding:0 6px;margin-right:8px;border-radius:3px;font-size:12px}
code{font-size:12px}.stuck li{color:#b3261e}.note{margin:2px 0}
</style></head><body>
<h1>${escape(title)}</h1>
<p>Verdict: <span class="verdict ${escape(result?.result ?? '')}">${escape(verdict)}</span>${result !== undefined ? ` — ${escape(result.summary)}` : ''}</p>
${notes}
<p class="legend"><span class="placed">placed in the linearization</span><span class="unplaced">could not be placed</span><span class="indeterminate">indeterminate</span><span class="unreached">not reached</span> Hover an operation for its stamps and the model states.</p>
<h2>All operations, by thread (${ops.length} operations${parts.length > 1 ? `, ${parts.length} partitions` : ''})</h2>
${timeline(ops, firstView)}
${sections.join('\n')}
</body></html>
`;
  if (options.file === undefined) return { html, ...(result !== undefined ? { result } : {}) };
  const file = resolve(options.file);
  writeFileSync(file, html);
  return { html, file, ...(result !== undefined ? { result } : {}) };
}

let reports = 0;

/**
 * Checks `history` against `model` and returns the result when it is
 * linearizable; otherwise writes the page (`renderHistory`) and throws an
 * Error whose message is the check's summary, the page's path and `notes`
 * (the seed and schedule of the run, say). Pages go to `SABRE_REPORT_DIR`,
 * else `<tmpdir>/sabre-reports`.
 * @throws Error when the history is illegal, or undecided within `timeoutMs` (default 10 000)
 */
export function expectLinearizable<S>(
  history: readonly HistoryEvent[],
  model: Model<S>,
  options: { readonly name?: string; readonly notes?: readonly string[]; readonly timeoutMs?: number } = {},
): CheckResult {
  const result = checkLinearizable(history, model, { timeoutMs: options.timeoutMs ?? 10_000 });
  if (result.result === 'ok') return result;
  const dir = process.env.SABRE_REPORT_DIR ?? join(tmpdir(), 'sabre-reports');
  mkdirSync(dir, { recursive: true });
  const name = (options.name ?? 'history').replace(/[^\w.-]+/g, '-');
  const { file } = renderHistory(history, {
    model,
    result,
    file: join(dir, `${name}-${process.pid}-${++reports}.html`),
    title: options.name ?? 'History',
    ...(options.notes !== undefined ? { notes: options.notes } : {}),
  });
  throw new Error([result.summary, `History: ${file}`, ...(options.notes ?? [])].join('\n'));
}
