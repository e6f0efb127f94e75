// An app that uses Comlink with the packed sabre/comlink, type-checked by the
// smoke test with skipLibCheck false and lib DOM, which Comlink's own types
// need (they name MessagePort and Transferable): the real Comlink namespace
// fits sabre's ComlinkNamespace.
import * as Comlink from 'comlink';
import { Mutex } from 'sabre';
import { registerComlinkHandlers } from 'sabre/comlink';

registerComlinkHandlers(Comlink, [Mutex]);

export interface Api {
  work(mutex: Mutex): Promise<number>;
}
export const wrap = (endpoint: Comlink.Endpoint): Comlink.Remote<Api> => Comlink.wrap<Api>(endpoint);
