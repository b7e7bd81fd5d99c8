// Import this FIRST in a bench that measures endo code: it installs HandledPromise (needed by
// @endo/eventual-send's E, @endo/captp) and then calls SES `lockdown()` with default options,
// like the project's vats. ES modules evaluate in import order, so every module imported after
// this one (captp, far, marshal, harden) sees a locked-down realm and the SES `harden`.
// Equivalent to `import '@endo/init'` (which also runs default `lockdown()` after the same shim,
// plus base64/promise-kit shims); both were checked to work.

import 'ses';
import '@endo/eventual-send/shim.js';

lockdown();

/** Options passed to lockdown(), for the benches' JSON lines. */
export const LOCKDOWN_OPTIONS = 'default';
