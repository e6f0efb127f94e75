import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { counterModel, expectLinearizable, mapModel, registerModel, renderHistory } from '../../src/testing/index.js';
import { counter, history, map } from './data/histories.js';

const dir = mkdtempSync(join(tmpdir(), 'sabre-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

/** The bars of a page: [class, text] of each operation. */
const bars = (html: string): [string, string][] =>
  [...html.matchAll(/<div class="op (\w+)"[^>]*>([^<]*)<\/div>/g)].map((m) => [m[1]!, m[2]!]);

describe('renderHistory', () => {
  it('an illegal history: the verdict, the longest linearization with its states, and the operation that could not follow, in a file', () => {
    const { html, file, result } = renderHistory(counter.c01.bad, {
      model: counterModel(0),
      file: join(dir, 'bad.html'),
      notes: ['seed 7'],
    });
    expect(result!.result).toBe('illegal');
    expect(readFileSync(file!, 'utf8')).toBe(html);
    expect(html).toMatch(/<span class="verdict illegal">illegal<\/span>/);
    expect(html).toContain('<code>seed 7</code>');
    expect(html).toMatch(/Where it broke/);
    const kinds = bars(html).map(([k]) => k);
    expect(kinds).toContain('placed');
    expect(kinds).toContain('unplaced');
    // every placed operation's hover names its states
    expect(html).toMatch(/title="[^"]*linearized #1&#10;|title="[^"]*linearized #1\nstate before: 0/);
    expect(html).toMatch(/cannot take effect in state <code>\d+<\/code>/);
  });

  it('an ok history: every operation placed; partitions each get a timeline', () => {
    const { html, result } = renderHistory(map.ok, { model: mapModel() });
    expect(result!.result).toBe('ok');
    expect(bars(html).every(([k]) => k === 'placed')).toBe(true);
    expect(html.match(/<h2>Partition \d+/g)).toHaveLength(result!.partitions.length);
  });

  it('without a model: the timelines alone; an operation that never returned is drawn as indeterminate', () => {
    const { html, result } = renderHistory(history([0, 'write', 1, undefined, 0, null], [1, 'read', null, 0, 1, 2]));
    expect(result).toBeUndefined();
    expect(html).toMatch(/not checked \(no model\)/);
    expect(bars(html).map(([k]) => k)).toEqual(['indeterminate', 'unreached']);
  });

  it('escapes what the program recorded', () => {
    const { html } = renderHistory(history([0, 'write', '<script>alert(1)</script>', undefined, 0, 1]), { model: registerModel() });
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;');
  });

  it('expectLinearizable: the result when ok; else an error with the summary, the page and the notes', () => {
    vi.stubEnv('SABRE_REPORT_DIR', dir);
    expect(expectLinearizable(counter.c01.ok, counterModel(0)).result).toBe('ok');
    let message = '';
    try {
      expectLinearizable(counter.c01.bad, counterModel(0), { name: 'counter c01', notes: ['seed 3', 'schedule 1:0'] });
    } catch (e) {
      message = (e as Error).message;
    }
    const page = /History: (\S+\.html)/.exec(message)?.[1];
    expect(message).toMatch(/^not linearizable: .*\nHistory: .*counter-c01-\d+-\d+\.html\nseed 3\nschedule 1:0$/);
    expect(readFileSync(page!, 'utf8')).toMatch(/<title>counter c01<\/title>/);
  });
});
