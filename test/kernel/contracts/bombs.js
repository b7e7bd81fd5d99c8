// Big allocations of every shape we know, for the memory backstops. `bomb(shape)` first
// changes durable state (so a commit would show), then allocates about 2 GiB of that shape,
// keeping all of it, then spins: only a backstop (resident memory, heap, gas, time) ends it.
import { Far } from '@endo/far';

const MiB = 2 ** 20;

export function buildRootObject({ baggage }) {
  if (!baggage.has('count')) baggage.init('count', 0);
  const keep = [];
  const flat = (s) => {
    s.indexOf('#'); // flattens a rope into one string
    keep.push(s);
  };
  const shapes = {
    padStart: () => {
      for (let i = 0; i < 8; i++) flat(String(i).padStart(256 * MiB, 'x'));
    },
    repeat: () => {
      for (let i = 0; i < 8; i++) flat(String(i).repeat(256 * MiB));
    },
    // A holey array joins into a rope (the 268 MB join); flattening copies it.
    joinHoley: () => {
      for (let i = 0; i < 8; i++) flat(new Array(268e6).join(String(i)));
    },
    joinDense: () => {
      for (let i = 0; i < 8; i++) flat(new Array(MiB).fill(String(i).repeat(255)).join(''));
    },
    concatInLoop: () => {
      let s = '';
      for (let i = 0; i < 2 ** 23; i++) {
        s += `${i}`.padEnd(256, '.');
        if (s.length > 128 * MiB) {
          flat(s);
          s = '';
        }
      }
    },
    typedArray: () => {
      for (let i = 0; i < 32; i++) keep.push(new Uint8Array(64 * MiB).fill(1));
    },
    arrayBuffer: () => {
      for (let i = 0; i < 32; i++) {
        const b = new ArrayBuffer(64 * MiB);
        new Uint32Array(b).fill(i + 1);
        keep.push(b);
      }
    },
    arrayFill: () => {
      for (let i = 0; i < 16; i++) keep.push(new Array(2 ** 24).fill(i));
    },
    mapGrowth: () => {
      const m = new Map();
      keep.push(m);
      for (let i = 0; i < 2 ** 24 - 1; i++) m.set(i, { i });
    },
  };
  return Far('root', {
    shapes: () => harden(Object.keys(shapes)),
    count: () => baggage.get('count'),
    incr: (n) => {
      baggage.set('count', baggage.get('count') + n);
      return baggage.get('count');
    },
    bomb: (shape) => {
      baggage.set('count', baggage.get('count') + 1);
      shapes[shape]();
      for (;;) {}
    },
  });
}
