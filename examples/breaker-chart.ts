/**
 * The SVG timeline of `examples/05-circuit-breaker.ts`, drawn with Vega
 * (rendered headless: a View with no renderer, asked for its SVG).
 *
 * Three panels on one time axis (ms after the run's start):
 *   1. two lanes: what the upstream was doing, and the shared breaker's state;
 *   2. the calls of the shared-breaker run, issued per time slot and stacked
 *      by how they ended (ok, upstream 5xx, timed out, failed fast), with the
 *      HALF_OPEN probes marked above the bars;
 *   3. requests that reached the upstream, running total, one line per run
 *      (no breaker, a breaker per thread, one shared breaker, retries with
 *      and without the shared budget).
 */
import * as vega from 'vega';

export interface Span {
  readonly label: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface TimelineChart {
  readonly title: string;
  readonly durationMs: number;
  /** The upstream's phases (healthy, down, slow, recovered). */
  readonly phases: readonly Span[];
  /** The shared breaker's states, one span per period. */
  readonly states: readonly Span[];
  /** Width of one bar of panel 2, in ms. */
  readonly slotMs: number;
  /** Panel 2: calls issued in the slot starting at `startMs`, by outcome. */
  readonly outcomes: readonly { readonly startMs: number; readonly outcome: string; readonly calls: number }[];
  /** Panel 2: the probes, when issued and how they ended. */
  readonly probes: readonly { readonly atMs: number; readonly result: string }[];
  /** Panel 3: running total of upstream requests per run, sampled per slot. */
  readonly requests: readonly { readonly atMs: number; readonly run: string; readonly total: number }[];
}

const WIDTH = 820;
const LANES_HEIGHT = 52;
const CALLS_HEIGHT = 170;
const REQUESTS_HEIGHT = 210;
const GAP = 46;

const PHASE_COLORS = { healthy: '#cfe8cf', down: '#e06666', slow: '#f6b26b', recovered: '#93c47d' };
const STATE_COLORS = { CLOSED: '#6aa84f', OPEN: '#cc0000', HALF_OPEN: '#f1c232' };
const OUTCOME_COLORS = { ok: '#6aa84f', 'upstream 5xx': '#cc0000', 'timed out': '#e69138', 'failed fast': '#9fc5e8' };
const RUN_COLORS = ['#999999', '#e69138', '#0b5394', '#cc0000', '#674ea7'];

const domain = (colors: Record<string, string>): string[] => Object.keys(colors);
const range = (colors: Record<string, string>): string[] => Object.values(colors);

/** The Vega specification of the timeline. */
export function timelineSpec(chart: TimelineChart): vega.Spec {
  const callsY = LANES_HEIGHT + GAP;
  const requestsY = callsY + CALLS_HEIGHT + GAP;
  const outage = chart.phases.filter((p) => p.label === 'down' || p.label === 'slow');
  const outageSpan =
    outage.length === 0 ? [] : [{ startMs: Math.min(...outage.map((p) => p.startMs)), endMs: Math.max(...outage.map((p) => p.endMs)) }];
  const lanes = [...chart.phases.map((p) => ({ lane: 'upstream', ...p })), ...chart.states.map((s) => ({ lane: 'shared breaker', ...s }))];
  const runs = [...new Set(chart.requests.map((r) => r.run))];
  const outageShade = (height: number): vega.Mark => ({
    type: 'rect',
    from: { data: 'outage' },
    encode: {
      enter: {
        x: { scale: 'x', field: 'startMs' },
        x2: { scale: 'x', field: 'endMs' },
        y: { value: 0 },
        y2: { value: height },
        fill: { value: '#f4cccc' },
        opacity: { value: 0.35 },
      },
    },
  });

  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: WIDTH,
    height: requestsY + REQUESTS_HEIGHT,
    padding: { left: 10, right: 10, top: 10, bottom: 10 },
    autosize: { type: 'pad' },
    background: 'white',
    title: { text: chart.title, anchor: 'start', fontSize: 14 } satisfies vega.Title,
    data: [
      { name: 'lanes', values: lanes },
      { name: 'outage', values: outageSpan },
      {
        name: 'outcomes',
        values: chart.outcomes.filter((o) => o.calls > 0).map((o) => ({ ...o, order: domain(OUTCOME_COLORS).indexOf(o.outcome) })),
        transform: [{ type: 'stack', groupby: ['startMs'], field: 'calls', sort: { field: 'order' } }],
      },
      { name: 'probes', values: chart.probes },
      { name: 'requests', values: chart.requests },
    ],
    scales: [{ name: 'x', type: 'linear', domain: [0, chart.durationMs], range: [0, WIDTH], zero: true, nice: false }],
    marks: [
      {
        type: 'group',
        encode: { enter: { x: { value: 0 }, y: { value: 0 }, width: { value: WIDTH }, height: { value: LANES_HEIGHT } } },
        scales: [
          { name: 'lane', type: 'band', domain: ['upstream', 'shared breaker'], range: [0, LANES_HEIGHT], padding: 0.15 },
          {
            name: 'laneColor',
            type: 'ordinal',
            domain: [...domain(PHASE_COLORS), ...domain(STATE_COLORS)],
            range: [...range(PHASE_COLORS), ...range(STATE_COLORS)],
          },
        ],
        axes: [{ orient: 'left', scale: 'lane', ticks: false, domain: false, labelFontSize: 11 }],
        legends: [
          {
            fill: 'laneColor',
            orient: 'right',
            columns: 2,
            title: 'upstream / breaker',
            symbolType: 'square',
            labelFontSize: 10,
            titleFontSize: 10,
          },
        ],
        marks: [
          {
            type: 'rect',
            from: { data: 'lanes' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'startMs' },
                // A HALF_OPEN period can last a millisecond: draw it at least 2 px wide.
                x2: { signal: `max(scale('x', datum.endMs), scale('x', datum.startMs) + 2)` },
                y: { scale: 'lane', field: 'lane' },
                height: { scale: 'lane', band: 1 },
                fill: { scale: 'laneColor', field: 'label' },
              },
            },
          },
        ],
      },
      {
        type: 'group',
        encode: { enter: { x: { value: 0 }, y: { value: callsY }, width: { value: WIDTH }, height: { value: CALLS_HEIGHT } } },
        title: {
          text: `Calls through the shared breaker, per ${chart.slotMs} ms issued, by how they ended (triangles: HALF_OPEN probes)`,
          anchor: 'start',
          fontSize: 11,
          fontWeight: 'normal',
        } satisfies vega.Title,
        scales: [
          { name: 'calls', type: 'linear', domain: { data: 'outcomes', field: 'y1' }, range: [CALLS_HEIGHT, 0], nice: true, zero: true },
          { name: 'outcomeColor', type: 'ordinal', domain: domain(OUTCOME_COLORS), range: range(OUTCOME_COLORS) },
        ],
        axes: [
          { orient: 'left', scale: 'calls', title: 'calls', tickCount: 4, titleFontSize: 10, labelFontSize: 10 },
          { orient: 'bottom', scale: 'x', labelFontSize: 10, tickCount: 10 },
        ],
        legends: [{ fill: 'outcomeColor', orient: 'right', title: 'outcome', symbolType: 'square', labelFontSize: 10, titleFontSize: 10 }],
        marks: [
          outageShade(CALLS_HEIGHT),
          {
            type: 'rect',
            from: { data: 'outcomes' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'startMs', offset: 0.5 },
                x2: { scale: 'x', signal: `datum.startMs + ${chart.slotMs}`, offset: -0.5 },
                y: { scale: 'calls', field: 'y1' },
                y2: { scale: 'calls', field: 'y0' },
                fill: { scale: 'outcomeColor', field: 'outcome' },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'probes' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'atMs' },
                y: { value: -4 },
                shape: { value: 'triangle-down' },
                size: { value: 40 },
                fill: { scale: 'outcomeColor', field: 'result' },
                stroke: { value: 'black' },
                strokeWidth: { value: 0.5 },
              },
            },
          },
        ],
      },
      {
        type: 'group',
        encode: { enter: { x: { value: 0 }, y: { value: requestsY }, width: { value: WIDTH }, height: { value: REQUESTS_HEIGHT } } },
        title: {
          text: 'Requests that reached the upstream, running total (the shaded span is the outage)',
          anchor: 'start',
          fontSize: 11,
          fontWeight: 'normal',
        } satisfies vega.Title,
        scales: [
          {
            name: 'total',
            type: 'linear',
            domain: { data: 'requests', field: 'total' },
            range: [REQUESTS_HEIGHT, 0],
            nice: true,
            zero: true,
          },
          { name: 'runColor', type: 'ordinal', domain: runs, range: RUN_COLORS },
        ],
        axes: [
          {
            orient: 'left',
            scale: 'total',
            title: 'requests',
            tickCount: 5,
            titleFontSize: 10,
            labelFontSize: 10,
            grid: true,
            gridOpacity: 0.3,
          },
          { orient: 'bottom', scale: 'x', title: 'ms after the start', titleFontSize: 10, labelFontSize: 10, tickCount: 10 },
        ],
        legends: [
          {
            stroke: 'runColor',
            orient: 'top-left',
            title: 'run',
            symbolType: 'stroke',
            labelFontSize: 10,
            labelLimit: 400,
            titleFontSize: 10,
            fillColor: 'white',
          },
        ],
        marks: [
          outageShade(REQUESTS_HEIGHT),
          {
            type: 'group',
            from: { facet: { name: 'series', data: 'requests', groupby: 'run' } },
            marks: [
              {
                type: 'line',
                from: { data: 'series' },
                encode: {
                  enter: {
                    x: { scale: 'x', field: 'atMs' },
                    y: { scale: 'total', field: 'total' },
                    stroke: { scale: 'runColor', field: 'run' },
                    strokeWidth: { value: 2 },
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** Renders the timeline to an SVG document (no browser, no canvas). */
export async function renderTimelineSvg(chart: TimelineChart): Promise<string> {
  const view = new vega.View(vega.parse(timelineSpec(chart)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
