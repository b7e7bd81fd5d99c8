/**
 * Makes one member of a quorum vat forge what its vat sends to another quorum vat, for
 * quorum-to-quorum.test.ts: loaded with `node --import` before member-node.ts (only with
 * QUORUMVAT_FORGE_TO=<the receiving quorum's VatID>), it wraps the REAL client layer where the
 * member's frames get their messages: every `count` call its vat sends to that quorum becomes a
 * `fail` call, and the member signs the forged content with its own key (the input statement
 * the receiving quorum checks), so its frames and their auth are as valid as an honest
 * member's; only the content is not what the agreed order produced.
 */
import { readFileSync } from 'node:fs';
import type { VatMessage } from '../../vat-node/src/protocol/messages.ts';
import { memberAuth } from '../../vat-node/src/quorum/client/member-auth.ts';
import { QuorumClientPort } from '../../vat-node/src/quorum/client/port.ts';
import { checkGenesis, quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';

const target = process.env['QUORUMVAT_FORGE_TO'];
// The vat worker processes inherit NODE_OPTIONS too: only the member process forges.
if (target !== undefined && process.argv[1]?.endsWith('member-node.ts')) {
  const args = JSON.parse(process.argv[2]!) as { dataDir: string; genesisFile: string };
  const identity = await loadOrCreateIdentity(args.dataDir);
  const self = quorumVatIdOf(checkGenesis(JSON.parse(readFileSync(args.genesisFile, 'utf8'))));
  let said = false;
  const unacked = QuorumClientPort.prototype.unacked;
  QuorumClientPort.prototype.unacked = function (this: QuorumClientPort, peer, afterSeq) {
    const real = unacked.call(this, peer, afterSeq);
    const members = this.chainOf(target)?.current.members ?? [];
    if (!members.includes(peer)) return real;
    return real.map((s) => {
      if (s.msg.op !== 'deliver' || s.msg.method !== 'count') return s;
      const msg: VatMessage = { ...s.msg, method: 'fail' };
      if (!said) {
        said = true;
        process.stdout.write(`${JSON.stringify({ level: 30, msg: 'byzantine', act: 'forged' })}\n`);
      }
      const auth = memberAuth(identity.sign, self, target, s.seq, msg);
      return auth === undefined ? { seq: s.seq, msg } : { seq: s.seq, msg, auth };
    });
  };
}
