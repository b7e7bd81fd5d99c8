/**
 * What crosses the boundary between the kernel (main thread) and the vat worker. References
 * here are vrefs, the vat's own names:
 *   o+N        an object the vat exports (allocated by the vat)
 *   o+dK/N     instance N of durable kind K (survives a vat restart)
 *   o-N        an object the vat imports (allocated by the kernel)
 *   p+N / p-N  promises allocated by the vat / by the kernel
 */
import type { CapData } from '../protocol/messages.ts';
import type { VRef } from '../protocol/refs.ts';

export type { VRef };

/**
 * The method of a path echo (kernel.ts, #acceptResolution): sent to a promise, it follows the
 * messages sent there before it and is answered where they ended up, without running contract
 * code. Contracts cannot define it: the source transform refuses the reserved `$qv_` prefix.
 */
export const ECHO_METHOD = '$qv_echo';

/** One settled promise: [vref, rejected, value]. */
export type VatResolution = readonly [VRef, boolean, CapData];

export type Delivery =
  | { readonly type: 'startVat' }
  | {
      readonly type: 'message';
      readonly target: VRef;
      readonly method: string | null;
      readonly args: CapData;
      readonly result: VRef | null;
    }
  | { readonly type: 'notify'; readonly resolutions: readonly VatResolution[] }
  /**
   * Settled promises nobody outside the vat can name any more: the vat forgets their vrefs
   * (a promise passed out again later gets a new vref), so its tables follow live state.
   */
  | { readonly type: 'retire'; readonly vrefs: readonly VRef[] };

export type Syscall =
  | {
      readonly type: 'send';
      readonly target: VRef;
      readonly method: string | null;
      readonly args: CapData;
      readonly result: VRef | null;
    }
  | { readonly type: 'resolve'; readonly resolutions: readonly VatResolution[] };

export interface VatOptions {
  readonly vatName: string;
  /** The contract, an ES module source (with optional `!` eventual-send syntax). */
  readonly contractSource: string;
  /** Gas limit per delivery (deterministic, see liveslots/meter.ts). */
  readonly gasLimit: number;
}

export type KernelToWorker =
  | {
      readonly type: 'init';
      readonly options: VatOptions;
      readonly store: readonly (readonly [string, string])[];
    }
  /**
   * Run these deliveries as separate cranks, in order, reporting each outcome as soon as it is
   * known; stop after the first failed one (the kernel will replace this worker).
   */
  | { readonly type: 'cranks'; readonly deliveries: readonly Delivery[] };

export type CrankOutcome =
  | {
      readonly ok: true;
      readonly syscalls: readonly Syscall[];
      readonly writes: readonly (readonly [string, string | null])[];
      readonly gas: number;
      /**
       * Messages without a result promise that could not be delivered (their target is gone),
       * with the reason: the kernel reports each one. Absent when there were none.
       */
      readonly undeliverable?: readonly string[];
    }
  | { readonly ok: false; readonly error: string; readonly gas: number };

export type WorkerToKernel =
  | { readonly type: 'ready' }
  | { readonly type: 'initFailed'; readonly error: string }
  | { readonly type: 'crankDone'; readonly outcome: CrankOutcome };
