import { afterEach, describe, expect, it } from 'vitest';
import { VoteRegistry, type VoteRegistryHandle } from '../../src/store/vote-registry.js';
import { ErrorCode } from '../../src/errors.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { deprecationsDuring } from '../helpers/deprecation.js';

const make = () => new VoteRegistry({ capacity: 16, choices: ['yes', 'no', 'abstain'], maxKeyBytes: 16 });

describe('VoteRegistry', () => {
  it('one vote per (poll, user); a second one is AlreadyVotedError and changes nothing', () => {
    const v = make();
    expect(v.vote('p1', 'u1', 'yes')).toEqual({ accepted: true, previous: null });
    expect(v.vote('p1', 'u2', 'no')).toEqual({ accepted: true, previous: null });
    expectCode(() => v.vote('p1', 'u1', 'no'), ErrorCode.ALREADY_VOTED, /user "u1" has already voted in poll "p1" \(for "yes"\)/);
    expect(v.tally('p1')).toEqual({ yes: 1, no: 1, abstain: 0 });
    expect(v.ballot('p1', 'u1')).toBe('yes');
    expect(v.vote('p2', 'u1', 'abstain').previous).toBeNull(); // another poll
    expect(v.tally('p2')).toEqual({ yes: 0, no: 0, abstain: 1 });
  });

  it('allowChange moves the vote, and the tally with it; retract withdraws it', () => {
    const v = make();
    v.vote('p', 'u', 'yes');
    expect(v.vote('p', 'u', 'no', { allowChange: true })).toEqual({ accepted: true, previous: 'yes' });
    expect(v.tally('p')).toEqual({ yes: 0, no: 1, abstain: 0 });
    expect(v.vote('p', 'u', 'no', { allowChange: true })).toEqual({ accepted: true, previous: 'no' });
    expect(v.tally('p')).toEqual({ yes: 0, no: 1, abstain: 0 });
    expect(v.retract('p', 'u')).toBe('no');
    expect(v.retract('p', 'u')).toBeNull();
    expect(v.tally('p')).toEqual({ yes: 0, no: 0, abstain: 0 });
    expect(v.ballot('p', 'u')).toBeNull();
    expect(v.vote('p', 'u', 'yes').previous).toBeNull(); // may vote again after retracting
  });

  it('ids that share characters do not share ballots', () => {
    const v = make();
    v.vote('a:b', 'c', 'yes');
    expect(v.ballot('a', 'b:c')).toBeNull();
    v.vote('a', 'b:c', 'no');
    expect(v.tally('a:b')).toEqual({ yes: 1, no: 0, abstain: 0 });
    expect(v.tally('a')).toEqual({ yes: 0, no: 1, abstain: 0 });
  });

  it('re-opens from its handle: one registry for every opener', () => {
    const v = make();
    v.vote('p', 'u', 'yes');
    const again = VoteRegistry.from(structuredClone(v.handle));
    expectCode(() => again.vote('p', 'u', 'yes'), ErrorCode.ALREADY_VOTED);
    again.vote('p', 'w', 'no');
    expect(v.tally('p')).toEqual({ yes: 1, no: 1, abstain: 0 });
    expect(again.choices).toEqual(['yes', 'no', 'abstain']);
  });

  it('a full registry refuses new ballots with nothing counted', () => {
    const v = new VoteRegistry({ capacity: 2, choices: ['a', 'b'] });
    v.vote('p', 'u1', 'a');
    v.vote('p', 'u2', 'a');
    expectCode(() => v.vote('p', 'u3', 'b'), ErrorCode.CAPACITY);
    expect(v.tally('p')).toEqual({ a: 2, b: 0 });
    v.vote('p', 'u1', 'b', { allowChange: true }); // changing needs no new room
    expect(v.tally('p')).toEqual({ a: 1, b: 1 });
  });

  describe('misuse: a typed error, and no ballot or count changes', () => {
    it.each([
      [
        'a choice not offered',
        (v: VoteRegistry) => v.vote('p', 'x', 'maybe'),
        /choice must be one of \["yes","no","abstain"\], got "maybe"/,
      ],
      ['a poll id that is not a string', (v: VoteRegistry) => v.vote(7 as never, 'x', 'yes'), /pollId must be a string, got 7/],
      [
        'a user id too long',
        (v: VoteRegistry) => v.vote('p', 'x'.repeat(17), 'yes'),
        /userId is too long: 17 bytes, and maxKeyBytes is 16/,
      ],
      ['a poll id too long for tally', (v: VoteRegistry) => v.tally('é'.repeat(9)), /pollId is too long: 18 bytes/],
    ])('%s', (_n, op, message) => {
      const v = make();
      v.vote('p', 'u', 'yes');
      expectCode(() => op(v), ErrorCode.INVALID_ARG, message);
      expect(v.tally('p')).toEqual({ yes: 1, no: 0, abstain: 0 });
      expect(v.vote('p', 'x', 'no').accepted).toBe(true);
    });

    it.each([
      ['no choices', { capacity: 4, choices: [] }, /choices must be an array of 1 to 64 strings/],
      ['repeated choices', { capacity: 4, choices: ['a', 'a'] }, /choices must be distinct/],
      ['a choice that is not a string', { capacity: 4, choices: ['a', 1] }, /choices must be an array/],
      ['capacity 0', { capacity: 0, choices: ['a'] }, /capacity/],
      ['maxPolls 0', { capacity: 4, choices: ['a'], maxPolls: 0 }, /maxPolls must be an integer in \[1, 16777216\], got 0/],
      [
        'a misspelled option',
        { capacity: 4, choices: ['a'], maxPoll: 2 },
        /new VoteRegistry\(options\): unknown option "maxPoll"; did you mean "maxPolls"\?/,
      ],
      ['a singular for a plural', { capacity: 4, choice: ['a'] }, /unknown option "choice"; did you mean "choices"\?/],
      [
        'an old name and its new one together',
        { capacity: 4, choices: ['a'], polls: 2, maxPolls: 2 },
        /"polls" is the old name of "maxPolls"; give only "maxPolls"/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new VoteRegistry(o as never), ErrorCode.INVALID_ARG, message);
    });

    it('vote refuses a misspelled or bad option, counting nothing', () => {
      const v = make();
      v.vote('p', 'u', 'yes');
      expectCode(
        () => v.vote('p', 'u', 'no', { allowChanges: true } as never),
        ErrorCode.INVALID_ARG,
        /votes\.vote\(poll, user, choice, options\): unknown option "allowChanges"; did you mean "allowChange"\?/,
      );
      expectCode(
        () => v.vote('p', 'u', 'no', { allowChange: 'yes' } as never),
        ErrorCode.INVALID_ARG,
        /allowChange must be true or false, got "yes"/,
      );
      expect(v.tally('p')).toEqual({ yes: 1, no: 0, abstain: 0 });
    });

    it("byteLength reads the constructor's options, as strictly", () => {
      const v = new VoteRegistry({ capacity: 16, choices: ['a', 'b'], maxPolls: 4, maxKeyBytes: 16 });
      expect(VoteRegistry.byteLength({ capacity: 16, choices: ['a', 'b'], maxPolls: 4, maxKeyBytes: 16 })).toBe(v.handle.byteLength);
      expect(VoteRegistry.byteLength({ capacity: 16, choices: ['a', 'b'], maxKeyBytes: 16 })).toBeGreaterThan(v.handle.byteLength); // maxPolls defaults to capacity
      expectCode(
        () => VoteRegistry.byteLength({ capacity: 16, choices: ['a'], maxKeyByte: 4 } as never),
        ErrorCode.INVALID_ARG,
        /VoteRegistry\.byteLength\(options\): unknown option "maxKeyByte"; did you mean "maxKeyBytes"\?/,
      );
    });

    it.each(
      forgedHandles<VoteRegistryHandle>('sabre.Mutex', [
        ['other choices', (h) => ({ ...h, options: { ...h.options, choices: ['no', 'yes', 'abstain'] } })],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const v = make();
      expectCode(
        thrown(() => VoteRegistry.from(forge(v.handle) as VoteRegistryHandle)),
        ErrorCode.HANDLE,
      );
    });
  });
});

describe('VoteRegistry: deprecated names', () => {
  afterEach(() => resetDeprecationsForTesting());

  it('`maxIdBytes` is `maxKeyBytes`: the same registry, and one SABRE_DEP_MAX_KEY_BYTES warning', async () => {
    let old!: VoteRegistry;
    const codes = await deprecationsDuring(() => {
      old = new VoteRegistry({ capacity: 16, choices: ['yes', 'no'], maxIdBytes: 8 });
      VoteRegistry.byteLength({ capacity: 16, choices: ['yes', 'no'], maxIdBytes: 8 });
    });
    expect(codes).toEqual(['SABRE_DEP_MAX_KEY_BYTES']);
    const current = new VoteRegistry({ capacity: 16, choices: ['yes', 'no'], maxKeyBytes: 8 });
    expect(old.handle.options).toEqual(current.handle.options);
    expect(old.handle.byteLength).toBe(current.handle.byteLength);
    expect(old.vote('p', 'x'.repeat(8), 'yes').accepted).toBe(true);
    expectCode(() => old.vote('p', 'x'.repeat(9), 'yes'), ErrorCode.INVALID_ARG, /userId is too long: 9 bytes, and maxKeyBytes is 8/);
  });

  it('`polls` is `maxPolls`: the same registry, and one SABRE_DEP_POLLS warning', async () => {
    let old!: VoteRegistry;
    const codes = await deprecationsDuring(() => {
      old = new VoteRegistry({ capacity: 16, choices: ['yes', 'no'], polls: 1 });
      new VoteRegistry({ capacity: 16, choices: ['yes', 'no'], polls: 1 });
    });
    expect(codes).toEqual(['SABRE_DEP_POLLS']);
    const current = new VoteRegistry({ capacity: 16, choices: ['yes', 'no'], maxPolls: 1 });
    expect(old.handle.options).toEqual(current.handle.options);
    old.vote('p1', 'u', 'yes');
    expectCode(() => old.vote('p2', 'u', 'yes'), ErrorCode.CAPACITY); // one poll only
    expect(old.tally('p1')).toEqual({ yes: 1, no: 0 });
  });
});
