// A party that holds purses (durably, in baggage) and trades through the bank's escrow.
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage }) {
  const purse = (currency) => baggage.get(`purse.${currency}`);
  const hold = (currency, p) => {
    const key = `purse.${currency}`;
    if (baggage.has(key)) baggage.set(key, p);
    else baggage.init(key, p);
  };
  return Far('trader', {
    hold,
    // Get a purse of `amount` from the bank's mint of `currency` and hold it (how the README's
    // by-hand example gives a trader money from the command line); returns its balance.
    fund: async (bank, currency, amount) => {
      const p = await (bank ! makeMint(currency) ! mintPurse(amount));
      hold(currency, p);
      return p ! getBalance();
    },
    balances: async () => {
      const currencies = baggage.keys().filter((k) => k.startsWith('purse.'));
      const entries = await Promise.all(
        currencies.map(async (k) => [k.slice(6), await E(baggage.get(k)).getBalance()]),
      );
      return harden(Object.fromEntries(entries));
    },
    // Lock my side of deal `id` at the bank. `bank ! deal(id)` is pipelined: the lock goes out
    // in the same flight, without waiting to learn which object the deal is.
    trade: (bank, id, side, give, giveAmount, want, wantAmount) =>
      bank ! deal(id) ! lock(side, purse(give), purse(want), giveAmount, wantAmount),
    spin: () => {
      for (;;) {}
    },
  });
}
