// A bank: mints of currencies, their purses, and escrowed deals, all durable objects:
// balances survive restarts, and a purse only takes money from a genuine purse of the same
// mint (stateOf: rights amplification within the kind; a look-alike object from another vat
// is refused).
import { Far } from '@endo/far';

export function buildRootObject({ baggage, defineKind }) {
  const makePurse = defineKind('purse', (currency, balance) => ({ currency, balance }), {
    getBalance: ({ state }) => state.balance,
    getCurrency: ({ state }) => state.currency,
    // A new empty purse of the same currency (for escrow and change).
    sprout: ({ state }) => makePurse(state.currency, 0),
    deposit: ({ state, stateOf }, amount, src) => {
      const from = stateOf(src);
      if (from.currency !== state.currency) throw TypeError('currency mismatch');
      if (!Number.isSafeInteger(amount) || amount <= 0) throw RangeError(`bad amount ${amount}`);
      if (amount > from.balance) throw RangeError(`insufficient funds: ${from.balance} < ${amount}`);
      from.balance -= amount;
      state.balance += amount;
      return state.balance;
    },
  });

  const makeMint = defineKind('mint', (currency) => ({ currency, issued: 0 }), {
    mintPurse: ({ state }, amount) => {
      if (!Number.isSafeInteger(amount) || amount < 0) throw RangeError(`bad amount ${amount}`);
      state.issued += amount;
      return makePurse(state.currency, amount);
    },
    issued: ({ state }) => state.issued,
  });

  // A deal: two sides each lock what they give; when both are in and they match, the bank
  // moves the money crosswise. Each side's money waits in a fresh escrow purse meanwhile.
  const makeDeal = defineKind('deal', (id) => ({ id, a: null, b: null, done: false }), {
    lock: ({ state }, side, pay, receive, give, want) => {
      if (side !== 'a' && side !== 'b') throw TypeError('side must be a or b');
      if (state.done) throw Error(`deal ${state.id} is already closed`);
      if (state[side] !== null) throw Error(`side ${side} of deal ${state.id} is already locked`);
      // A purse of this bank is a local object; anything from another vat is a presence.
      if (typeof pay.sprout !== 'function') throw TypeError('not a purse of this bank');
      const hold = pay.sprout();
      hold.deposit(give, pay); // throws (and locks nothing) without the funds
      state[side] = harden({ hold, receive, give, want });
      const { a, b } = state;
      if (a === null || b === null) return 'locked; waiting for the other side';
      if (a.give !== b.want || b.give !== a.want) {
        pay.deposit(give, hold); // refund this side; the first side stays locked
        state[side] = null;
        throw Error('the two sides do not match');
      }
      b.receive.deposit(a.give, a.hold);
      a.receive.deposit(b.give, b.hold);
      state.done = true;
      return 'exchanged';
    },
  });

  return Far('bank', {
    deal: (id) => {
      const key = `deal.${id}`;
      if (!baggage.has(key)) baggage.init(key, makeDeal(id));
      return baggage.get(key);
    },
    makeMint: (currency) => {
      const key = `mint.${currency}`;
      if (!baggage.has(key)) baggage.init(key, makeMint(currency));
      return baggage.get(key);
    },
  });
}
