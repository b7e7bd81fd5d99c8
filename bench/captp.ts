// Typed view of the parts of @endo/captp the benches use (its entry point ships no .d.ts).
// Import `./endo-lockdown.ts` before this module.

// @ts-expect-error -- @endo/captp 4.x has no declaration file for its entry point
import * as untyped from '@endo/captp';

export interface CapTPConnection {
  /** Feeds one received message (a JSON-able object) to this end; false if not a CapTP message. */
  dispatch(message: Record<string, unknown>): boolean;
  /** A promise for the other end's bootstrap object. */
  getBootstrap(): Promise<unknown>;
  /** Closes this end, rejecting outstanding questions. */
  abort(reason?: unknown): void;
}

export interface Loopback {
  makeFar<T>(x: T): Promise<T>;
}

interface CapTPModule {
  makeCapTP(
    ourId: string,
    rawSend: (message: Record<string, unknown>) => void,
    bootstrap?: unknown,
    opts?: { onReject?: (err: unknown) => void },
  ): CapTPConnection;
  makeLoopback(ourId: string): Loopback;
}

const captp = untyped as unknown as CapTPModule;
export const makeCapTP = captp.makeCapTP;
export const makeLoopback = captp.makeLoopback;
