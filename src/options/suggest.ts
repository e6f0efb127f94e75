/**
 * "Did you mean …?": the known name closest to a misspelled one.
 *
 * Optimal string alignment distance (Damerau–Levenshtein with adjacent
 * transpositions), the measure TypeScript and cargo use for their own
 * suggestions. A name is suggested when it is within 40% of the longer
 * name's length (at least 2 edits), when one name is a prefix of the other
 * (`ttl` → `ttlMs`), or when they differ only in case.
 */

/** Edits (insert, delete, substitute, swap two neighbours) between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1,
    cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/** The candidate `name` most likely stands for, or undefined when none is close. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score: number;
    if (cl === lower) score = 0;
    else if (lower.length >= 3 && (cl.startsWith(lower) || lower.startsWith(cl))) score = 0.5;
    else {
      const dist = editDistance(lower, cl);
      if (dist > Math.max(2, Math.ceil(Math.max(lower.length, cl.length) * 0.4))) continue;
      score = dist;
    }
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}
