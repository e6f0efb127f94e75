// comlink ships its Node adapter without types for the NodeNext resolution.
/* eslint-disable @typescript-eslint/no-explicit-any -- as loose as comlink's JavaScript: a Worker, a MessagePort or any look-alike fits */
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(nep: {
    postMessage(message: any, transfer?: any[]): void;
    on(type: string, listener: (...args: any[]) => void): void;
    off(type: string, listener: (...args: any[]) => void): void;
    start?: () => void;
  }): Endpoint;
}
