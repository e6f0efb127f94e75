/**
 * A small aligned-column table printer shared by the examples.
 *
 * `console.table` prints an index column and quotes strings; these tables are
 * meant to be read by people (and checked by CI), so they print plain
 * columns: text left-aligned, numbers right-aligned with thousands separators.
 */

export type Cell = string | number | bigint | boolean | null | undefined;
export type Row = Record<string, Cell>;

export interface TableOptions {
  /** Column order; defaults to the keys of the first row. */
  readonly columns?: readonly string[];
  /** A title printed above the table. */
  readonly title?: string;
}

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** How one cell reads: numbers with separators, empty for null/undefined. */
export function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? numberFormat.format(value) : String(value);
  if (typeof value === 'bigint') return numberFormat.format(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return value;
}

/** Renders `rows` as aligned text lines (no trailing newline). */
export function renderTable(rows: readonly Row[], options: TableOptions = {}): string {
  const columns = options.columns ?? Object.keys(rows[0] ?? {});
  const text = rows.map((row) => columns.map((c) => formatCell(row[c])));
  const numeric = columns.map(
    (c) => rows.length > 0 && rows.every((r) => r[c] == null || typeof r[c] === 'number' || typeof r[c] === 'bigint'),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((cells) => cells[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (options.title !== undefined) out.push(options.title);
  out.push(line(columns), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const cells of text) out.push(line(cells));
  return out.join('\n');
}

/** Prints `rows` as an aligned table, followed by a blank line. */
export function printTable(rows: readonly Row[], options: TableOptions = {}): void {
  console.log(renderTable(rows, options) + '\n');
}
