/**
 * Test-only twins of VoteRegistry, each missing one safeguard:
 * - 'unlocked': a vote reads the ballot, writes it and moves the tally with
 *   no stripe lock around the three steps: two votes of one user can both be
 *   first, and the tally can drift from the ballots.
 * - 'no-recount': the stripe lock is kept, but after a voter dies holding it
 *   nobody recounts the tallies from the ballots.
 */
import { VoteRegistry, type VoteRegistryHandle } from '../../src/store/vote-registry.js';

class UnlockedVotes extends VoteRegistry {}
Object.defineProperty(UnlockedVotes.prototype, 'locked', { value: <T>(_poll: string, fn: () => T): T => fn() });

class NoRecountVotes extends VoteRegistry {}
Object.defineProperty(NoRecountVotes.prototype, 'recount', { value: (): void => {} });

export type VoteTwin = 'unlocked' | 'no-recount';

/** Opens `handle` as the twin named `twin`. */
export function openUnsafeVotes(handle: VoteRegistryHandle, twin: VoteTwin): VoteRegistry {
  const proto = twin === 'unlocked' ? UnlockedVotes.prototype : NoRecountVotes.prototype;
  return Object.setPrototypeOf(VoteRegistry.from(handle), proto) as VoteRegistry;
}
