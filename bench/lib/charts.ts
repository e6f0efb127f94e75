/**
 * The benchmark results as data and charts: `bench/results/<date>.json`
 * (every section, its table and its figures as numbers) and SVG charts
 * drawn by Vega-Lite (compiled to Vega and rendered headless, no canvas),
 * which `bench/README.md` links.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Section } from './stats.js';

const RESULTS = new URL('../results/', import.meta.url);

/** Writes the run's JSON; returns its file name. */
export function writeResults(date: string, machine: string, sections: readonly Section[]): string {
  mkdirSync(RESULTS, { recursive: true });
  const name = `${date}.json`;
  const json = {
    date,
    machine,
    sections: sections.map((s) => ({ title: s.title, header: s.header, rows: s.rows, goals: s.goals, data: s.data ?? [] })),
  };
  writeFileSync(new URL(name, RESULTS), `${JSON.stringify(json, null, 2)}\n`);
  return name;
}

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** The SVG of every section that has data to chart, with its section. */
export async function renderCharts(sections: readonly Section[]): Promise<{ section: Section; svg: string }[]> {
  const out: { section: Section; svg: string }[] = [];
  for (const section of sections) {
    const spec = specFor(section);
    if (spec !== undefined) out.push({ section, svg: await svgOf(spec) });
  }
  return out;
}

/** Writes one chart per section that has data to chart; returns [title, file name] of each. */
export async function writeCharts(date: string, sections: readonly Section[]): Promise<[string, string][]> {
  mkdirSync(RESULTS, { recursive: true });
  const written: [string, string][] = [];
  for (const { section, svg } of await renderCharts(sections)) {
    const number = /^(\d+)/.exec(section.title)?.[1] ?? 'x';
    const name = `${date}-table-${number}.svg`;
    writeFileSync(new URL(name, RESULTS), svg);
    written.push([section.title, name]);
  }
  return written;
}

const FONT = { font: 'sans-serif', labelFontSize: 11, titleFontSize: 12, labelLimit: 640 };

/** The chart of a section, chosen by the shape of its data. */
function specFor(s: Section): TopLevelSpec | undefined {
  const data = s.data;
  if (data === undefined || data.length === 0) return undefined;
  const first = data[0]!;
  const base = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: s.title,
    config: { axis: FONT, legend: FONT },
  } as const;
  if ('threads' in first && 'opsPerSecond' in first) {
    return {
      ...base,
      width: 480,
      height: 300,
      data: { values: [...data] },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'threads', type: 'ordinal', title: 'threads (2 cores)' },
        y: { field: 'opsPerSecond', type: 'quantitative', scale: { type: 'log' }, title: 'operations per second, all threads (log)' },
        color: { field: 'operation', type: 'nominal', title: null },
      },
    };
  }
  const measure = Object.keys(first).find((k) => typeof first[k] === 'number');
  const label = Object.keys(first).find((k) => typeof first[k] === 'string');
  if (measure === undefined || label === undefined) return undefined;
  return {
    ...base,
    width: 480,
    height: { step: 28 },
    data: { values: [...data] },
    mark: 'bar',
    encoding: {
      y: { field: label, type: 'nominal', title: null, sort: null },
      x: { field: measure, type: 'quantitative', title: measure.replace(/([A-Z])/g, ' $1').toLowerCase() },
    },
  };
}
