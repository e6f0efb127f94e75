/**
 * Threads vote in a few polls for a few users of one VoteRegistry (or a
 * twin), `ops` times: a first vote (counting ATTEMPTS and ACCEPTED for the
 * (poll, user) pair when it is accepted), or, with `changes`, also vote
 * changes (`allowChange`) and retractions, drawn at random.
 */
import { add } from '../../src/memory/atomics.js';
import { isSabreError } from '../../src/errors.js';
import { VoteRegistry, type VoteRegistryHandle } from '../../src/store/vote-registry.js';
import { defineProgram } from '../../src/testing/index.js';
import { openUnsafeVotes, type VoteTwin } from './unsafe-votes.js';

export const CHOICES = ['yes', 'no', 'abstain'] as const;
export const MAX_POLLS = 2,
  MAX_USERS = 3;
/** `words`: ATTEMPTS[pair], ACCEPTED[pair] for pair = poll * MAX_USERS + user. */
export const ATTEMPTS = 0,
  ACCEPTED = MAX_POLLS * MAX_USERS,
  VOTE_WORDS = 2 * MAX_POLLS * MAX_USERS;

export interface VoteShared {
  readonly kind: 'registry' | VoteTwin;
  readonly registry: VoteRegistryHandle;
  readonly words: Int32Array;
}
export interface VoteInput {
  readonly ops: number;
  readonly polls: number;
  readonly users: number;
  /** Also change and retract votes. */
  readonly changes: boolean;
}

export default defineProgram<VoteShared, VoteInput, void>(({ shared, input, random }) => {
  const v = shared.kind === 'registry' ? VoteRegistry.from(shared.registry) : openUnsafeVotes(shared.registry, shared.kind);
  const pick = (n: number): number => Math.floor(random() * n);
  for (let i = 0; i < input.ops; i++) {
    const p = pick(input.polls),
      u = pick(input.users);
    const choice = CHOICES[pick(CHOICES.length)]!;
    const what = input.changes ? pick(3) : 0;
    if (what === 0) {
      add(shared.words, ATTEMPTS + p * MAX_USERS + u, 1);
      try {
        v.vote(`p${p}`, `u${u}`, choice);
        add(shared.words, ACCEPTED + p * MAX_USERS + u, 1);
      } catch (e) {
        if (!isSabreError(e, 'ERR_ALREADY_VOTED')) throw e;
      }
    } else if (what === 1) {
      v.vote(`p${p}`, `u${u}`, choice, { allowChange: true });
    } else {
      v.retract(`p${p}`, `u${u}`);
    }
  }
});
