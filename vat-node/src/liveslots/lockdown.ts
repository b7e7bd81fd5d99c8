/**
 * The realm a vat runs in, set up once per process: SES, then the HandledPromise shim, then
 * lockdown. The worker (worker.ts) imports it first, and so do tests that drive liveslots the
 * way the worker does, so both run under exactly the same taming.
 */
import 'ses';
import '@endo/eventual-send/shim.js';

// errorTaming 'safe': contract code must not see stack traces (they leak host paths and differ
// between hosts, which would break determinism).
lockdown({ errorTaming: 'safe', overrideTaming: 'severe', consoleTaming: 'safe' });
