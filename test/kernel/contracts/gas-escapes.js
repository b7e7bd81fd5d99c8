// Hostile contract: every way we know to run code that the gas pass has not rewritten, and
// every way to make the runtime call contract code for us. `run(route)` tries one route; a
// route that ran unmetered code answers `OPEN: <iterations>`, one that was refused answers
// `closed: <error>`. A route through contract code must instead end the crank at the gas limit.
import { E, Far } from '@endo/far';
import * as far from '@endo/far';

const N = 5_000_000;
const BODY = `let i = 0; while (i < ${N}) i++; return i;`;
const EXPR = `(() => { ${BODY} })()`;
const SPIN = () => {
  let i = 0;
  for (;;) i++;
};

const attempt = (fn) => {
  try {
    return `OPEN: ${String(fn())}`;
  } catch (e) {
    return `closed: ${e.name}: ${e.message}`;
  }
};

// A precompiled module source (SES runs `__syncModuleProgram__` as code) and a virtual one.
const precompiled = {
  imports: [],
  exports: ['x'],
  reexports: [],
  __syncModuleProgram__: `({ imports, onceVar }) => { imports(new Map(), []); onceVar.x(${EXPR}); }`,
  __liveExportMap__: {},
  __fixedExportMap__: { x: ['x'] },
};
const moduleMap = () => ({ __options__: true, modules: { m: { source: precompiled } } });

const evaluators = {
  newCompartmentEvaluate: () => new Compartment().evaluate(EXPR),
  compartmentWithoutNew: () => Compartment().evaluate(EXPR),
  compartmentFunction: () => new Compartment().globalThis.Function(BODY)(),
  compartmentEval: () => new Compartment().globalThis.eval(EXPR),
  compartmentNestedInNested: () =>
    new Compartment().evaluate(`new Compartment().evaluate(${JSON.stringify(EXPR)})`),
  compartmentImportNow: () => new Compartment(moduleMap()).importNow('m').x,
  compartmentImport: () => new Compartment(moduleMap()).import('m'),
  compartmentLoad: () => new Compartment(moduleMap()).load('m'),
  compartmentModuleSource: () => new Compartment().evaluate(`new ModuleSource('x = 1')`),
  moduleSource: () => new ModuleSource(`export const x = ${EXPR};`),
  staticModuleRecord: () => new StaticModuleRecord(`export const x = ${EXPR};`),
  functionGlobal: () => Function(BODY)(),
  newFunction: () => new Function(BODY)(),
  newFunctionInTemplate: () => new Function(`${BODY}`)(),
  globalThisFunction: () => globalThis.Function(BODY)(),
  computedGlobal: () => globalThis[['Func', 'tion'].join('')](BODY)(),
  functionConstructor: () => (() => {}).constructor(BODY)(),
  functionPrototypeConstructor: () => Function.prototype.constructor(BODY)(),
  constructorConstructor: () => (() => {}).constructor.constructor(BODY)(),
  objectConstructorConstructor: () => ({}).constructor.constructor(BODY)(),
  globalThisConstructor: () => globalThis.constructor.constructor(BODY)(),
  asyncFunction: () => (async () => {}).constructor(BODY)(),
  asyncFunctionViaPrototype: () => Object.getPrototypeOf(async () => {}).constructor(BODY)(),
  generatorFunction: () => function* () {}.constructor(BODY)().next().value,
  generatorFunctionViaPrototype: () =>
    Object.getPrototypeOf(function* () {}).constructor(BODY)().next().value,
  asyncGeneratorFunction: () => async function* () {}.constructor(BODY)().next(),
  reflectConstruct: () => Reflect.construct(Function, [BODY])(),
  reflectConstructAsync: () =>
    Reflect.construct(Object.getPrototypeOf(async function () {}).constructor, [BODY])(),
  reflectApply: () => Reflect.apply(Function, undefined, [BODY])(),
  reflectGetFunction: () => Reflect.get(globalThis, 'Function')(BODY)(),
  boundFunctionConstructor: () => Function.bind(null, BODY)()(),
  indirectEval: () => (0, eval)(EXPR),
  globalThisEval: () => globalThis.eval(EXPR),
  // A direct eval call is refused by SES when the contract loads (confinement.test.ts);
  // an optional call is an indirect eval that SES's load-time check does not see.
  optionalCallEval: () => eval?.(EXPR),
  lockdown: () => lockdown(),
  webAssembly: () => WebAssembly.compile(new Uint8Array(8)),
  endowedE: () => E.constructor(BODY)(),
  endowedFar: () => Far.constructor(BODY)(),
  endowedHandledPromise: () => HandledPromise.constructor(BODY)(),
  endowedHarden: () => harden.constructor(BODY)(),
  farNamespaceGetters: () => {
    const getters = Object.entries(Object.getOwnPropertyDescriptors(far)).filter(
      ([, d]) => d.get || d.set,
    );
    if (getters.length > 0) return getters.map(([k]) => k).join();
    throw TypeError('no accessors on the @endo/far namespace');
  },
  runtimeImportPrototype: () => globalThis[`${'$qv'}_import`]('constructor')(BODY)(),
  runtimeImportProto: () => globalThis[`${'$qv'}_import`]('__proto__').constructor(BODY)(),
  runtimeMeterConstructor: () => globalThis[`${'$qv'}_meter`].f.constructor(BODY)(),
};

// Every function reachable from the vat's globals and the @endo/far namespace, called with
// code as its argument (and constructed): none may evaluate it. Getters are not invoked.
const crawl = () => {
  const seen = new Set();
  const queue = [globalThis, far];
  const open = [];
  while (queue.length > 0) {
    const value = queue.pop();
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    if (seen.has(value)) continue;
    seen.add(value);
    queue.push(Object.getPrototypeOf(value));
    for (const key of Reflect.ownKeys(value)) {
      const d = Reflect.getOwnPropertyDescriptor(value, key);
      queue.push(d.value, d.get, d.set);
    }
    if (typeof value === 'function') {
      const tries = [
        () => value('6*7') === 42,
        () => new value('6*7') === 42,
        () => value('return 6*7')() === 42,
        () => new value('return 6*7')() === 42,
        () => new value().evaluate('6*7') === 42,
      ];
      for (const t of tries) {
        try {
          if (t()) open.push(value.name || '(anonymous)');
        } catch {}
      }
    }
  }
  if (open.length > 0) return `${open.join()} evaluate code`;
  throw TypeError(`none of ${seen.size} reachable objects evaluates code`);
};

// Contract code that the runtime calls for us: metered, so each must end at the gas limit.
const metered = (powers) => ({
  plainLoop: () => SPIN(),
  sortComparator: () => [3, 2, 1].sort(() => SPIN()),
  sortComparatorNoLoop: () => {
    const cmp = (a, b) => cmp(b, a);
    return [3, 2, 1].sort(cmp);
  },
  proxyTrap: () => new Proxy({}, { get: () => SPIN() }).x,
  getter: () =>
    ({
      get x() {
        return SPIN();
      },
    }).x,
  toPrimitive: () => `${{ toString: () => SPIN() }}`,
  valueOf: () => ({ valueOf: () => SPIN() }) + 1,
  endlessIterator: () => [...{ [Symbol.iterator]: () => ({ next: () => ({ done: false }) }) }],
  arrayFromLength: () => Array.from({ length: 2 ** 31 }, (_, i) => i),
  thenable: () => Promise.resolve({ then: () => SPIN() }),
  microtaskChain: () => {
    const f = () => Promise.resolve().then(f);
    return f();
  },
  taggedTemplate: () => ((s) => SPIN())`x`,
  reflectApply: () => Reflect.apply(SPIN, undefined, []),
  boundRecursion: () => {
    const f = () => g();
    const g = f.bind(null);
    return f();
  },
  classFieldInitializer: () =>
    new (class {
      x = SPIN();
    })(),
  defaultParameter: () => ((a = SPIN()) => a)(),
  generator: () => {
    for (const _ of (function* () {
      for (;;) yield 1;
    })());
  },
  asyncLoop: async () => {
    for (;;) await null;
  },
  handledPromiseHandler: () => E(new HandledPromise(() => {}, { applyMethod: () => SPIN() })).m(),
  eventualSendToLocal: () => {
    const o = Far('o', { m: () => E(o).m() });
    return E(o).m();
  },
  definedKindInit: () => powers.defineKind('spin', () => SPIN(), { m: () => 0 })(),
  replaceCallback: () => 'aaaa'.replace(/a/g, () => SPIN()),
  jsonReviver: () => JSON.parse('[1,2]', () => SPIN()),
  mapForEach: () => new Map([[1, 1]]).forEach(() => SPIN()),
});

export function buildRootObject(powers) {
  const routes = metered(powers);
  return Far('root', {
    evaluators: () => harden(Object.keys(evaluators)),
    meteredRoutes: () => harden(Object.keys(routes)),
    evaluate: (name) => attempt(evaluators[name]),
    crawl: () => attempt(crawl),
    spin: (name) => routes[name](),
    ping: () => 'pong',
  });
}
