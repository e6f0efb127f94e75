/**
 * A seeded bug in one of sabre's own primitives, and the program that
 * shows it: the mutation suite (props/README.md) checks that the toolkit
 * finds each one, and counts the runs each strategy takes.
 *
 * A mutant is a textual change of one source file (`find` must occur in it
 * exactly once). The suite builds a sandbox with the changed file and the
 * mutant's program, both importing every other module from the real tree,
 * so the harness's atomics seam (yields, turns) reaches the mutated code.
 */
import type { RunThreadsResult } from '../../src/testing/index.js';

export interface Mutant<Shared = unknown, Input = unknown, Result = unknown> {
  /** Short name, used in the table and the sandbox's folder. */
  readonly id: string;
  /** What the bug is, in a line. */
  readonly title: string;
  /** The source file changed, from the repository's root (`src/...`). */
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  /** The program, in props/mutants/programs/ (it imports the primitive by its path in src/, like any program). */
  readonly program: string;
  readonly threads: readonly Input[];
  readonly setup: () => Shared;
  /** True when the run shows the bug (an invariant broken, or a wake-up that only a timeout delivered). */
  readonly found: (run: RunThreadsResult<Shared, Result>, how: { readonly elapsedMs: number }) => boolean;
  /** Errors of the run that show the bug too (by code or message), rather than a broken harness. */
  readonly failsWith?: RegExp;
  /** PCT's bug depth (default 2). */
  readonly depth?: number;
}
