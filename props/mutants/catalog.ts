/**
 * The seeded bugs of the mutation suite, one per primitive (props/README.md
 * has the table of how many runs each strategy took to find each).
 */
import type { Mutant } from './mutant.js';
import { semaphoreLostNotify } from './semaphore-lost-notify.js';

export const MUTANTS: readonly Mutant[] = [semaphoreLostNotify as Mutant];
