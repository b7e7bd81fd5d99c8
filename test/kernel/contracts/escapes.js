// Hostile contract: tries the known ways out of a SES compartment and reports each one.
import { Far } from '@endo/far';

const attempt = (fn) => {
  try {
    const v = fn();
    return `OPEN: ${typeof v === 'object' ? 'object' : String(v)}`;
  } catch (e) {
    return `closed: ${e.name}: ${e.message}`;
  }
};

export function buildRootObject() {
  return Far('root', {
    probe: () =>
      harden({
        objectPrototypePollution: attempt(() => {
          Object.prototype.polluted = 1;
          return 'polluted';
        }),
        arrayPrototypeOverride: attempt(() => {
          Array.prototype.push = () => 0;
          return 'overridden';
        }),
        functionConstructorEscape: attempt(() => (() => {}).constructor('return this')()),
        asyncFunctionConstructor: attempt(() => (async () => {}).constructor('return this')),
        generatorConstructor: attempt(() => function* () {}.constructor('return this')),
        functionGlobal: attempt(() => Function('return globalThis')()),
        indirectEval: attempt(() => (0, globalThis.eval)('1 + 1')),
        // Stack traces would leak host paths and differ between hosts (nondeterminism).
        prepareStackTrace: attempt(() => {
          Error.prepareStackTrace = (_e, frames) => frames;
          const stack = Error('x').stack;
          if (Array.isArray(stack) || (typeof stack === 'string' && stack.includes('at '))) {
            return 'stack frames visible';
          }
          throw TypeError(`no effect (stack: ${JSON.stringify(stack)})`);
        }),
        captureStackTrace: attempt(() => {
          const o = {};
          Error.captureStackTrace?.(o);
          if (typeof o.stack === 'string' && o.stack.includes('at ')) return o.stack;
          throw TypeError(`no stack captured (${JSON.stringify(o.stack)})`);
        }),
        errorStack: attempt(() => {
          const stack = Error('x').stack;
          if (typeof stack === 'string' && stack.includes('at ')) return stack;
          throw TypeError(`no stack (${JSON.stringify(stack)})`);
        }),
        sharedArrayBuffer: attempt(() => new SharedArrayBuffer(8)),
        atomics: attempt(() => Atomics.wait),
        weakRef: attempt(() => new WeakRef({})),
        finalizationRegistry: attempt(() => new FinalizationRegistry(() => {})),
        mathRandom: attempt(() => Math.random()),
        dateNow: attempt(() => Date.now()),
        newDate: attempt(() => new Date().getTime()),
        process: attempt(() => process.pid),
        require: attempt(() => require('fs')),
        setTimeout: attempt(() => setTimeout(() => {}, 1)),
        fetch: attempt(() => fetch('http://127.0.0.1/')),
        globalMutation: attempt(() => {
          globalThis.leak = 1;
          return 'leaked';
        }),
        meterReplacement: attempt(() => {
          globalThis[`${'$qv'}_meter`] = { f() {}, l() {}, c() {} };
          return 'replaced';
        }),
        meterRefill: attempt(() => globalThis[`${'$qv'}_meter`].reset(1e12)),
        localeNondeterminism: attempt(() => {
          const s = (1234.5).toLocaleString();
          if (s !== '1234.5') return s;
          throw TypeError('toLocaleString is tamed to toString');
        }),
      }),
  });
}
