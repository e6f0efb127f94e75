// What the packed sabre must NOT offer: each line below is a type error, and
// an unused @ts-expect-error fails the check, so re-exporting an internal (or
// a peer dependency's types becoming reachable) is caught.
import { ThreadRegistry } from 'sabre';

// @ts-expect-error the atomics backoff is internal
import { Backoff } from 'sabre';
// @ts-expect-error the cache-line size is internal
import { CACHE_LINE_BYTES } from 'sabre';
// @ts-expect-error the liveness slice is internal
import { LIVENESS_SLICE_MS } from 'sabre';
// @ts-expect-error codec resolution is internal (Codec and CodecName are public)
import { resolveCodec } from 'sabre';
// @ts-expect-error codec names are internal
import { CODEC_NAMES } from 'sabre';
// @ts-expect-error the kind table's re-open is internal
import { reopen } from 'sabre/piscina';
// @ts-expect-error integrations live on their subpaths, not on the main entry
import { registerComlinkHandlers } from 'sabre';
// @ts-expect-error integrations live on their subpaths, not on the main entry
import { toTaskArgs } from 'sabre';
// @ts-expect-error the kind table is reached through sabre/piscina or sabre/comlink
import { registerKind } from 'sabre';
// @ts-expect-error the optional peer dependencies are not installed here
import type { Piscina } from 'piscina';
// @ts-expect-error the optional peer dependencies are not installed here
import type { TransferHandler } from 'comlink';

// @ts-expect-error the registry is ThreadRegistry.current; its constructor is private
new ThreadRegistry(new SharedArrayBuffer(8));

export type Unused = [
  typeof Backoff,
  typeof CACHE_LINE_BYTES,
  typeof LIVENESS_SLICE_MS,
  typeof resolveCodec,
  typeof CODEC_NAMES,
  typeof reopen,
  typeof registerComlinkHandlers,
  typeof toTaskArgs,
  typeof registerKind,
  Piscina,
  TransferHandler<unknown, unknown>,
];
