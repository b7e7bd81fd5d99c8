/**
 * Makes a member serve bad snapshots, for state-transfer.test.ts: loaded with `node --import`
 * before member-node.ts, it wraps the REAL member's answer to the snapshot protocol
 * (QuorumMember.answerSnapshot) and nothing else. Its ordering, checkpoints and execution stay
 * honest, so it keeps a certified snapshot; what it sends differs, a different lie per request
 * (QUORUMVAT_SNAPSHOT_TAMPER, comma-separated, used in turn, the last one repeated):
 *
 *   rows          a vat store value changed (the certificate is the real one)
 *   certificate   the real rows, one certificate signature flipped
 *
 * One stdout line per lie told (the test checks the learner refused each one).
 */
import { QuorumMember } from '../../vat-node/src/quorum/member/member.ts';

const modes = (process.env['QUORUMVAT_SNAPSHOT_TAMPER'] ?? '').split(',').filter(Boolean);
let served = 0;

if (modes.length > 0) {
  const answer = QuorumMember.prototype.answerSnapshot;
  QuorumMember.prototype.answerSnapshot = function (this: QuorumMember, after) {
    const real = answer.call(this, after);
    if (real.bytes === undefined) return real;
    const mode = modes[Math.min(served++, modes.length - 1)]!;
    const snap = JSON.parse(Buffer.from(real.bytes).toString('utf8'));
    if (mode === 'rows') {
      const row = snap.rows.find(([k]: [string]) => k.startsWith('vs.'));
      row[1] = `${row[1]}0`;
    } else {
      const sigs = Buffer.from(snap.certificate.signatures, 'base64url');
      sigs[0]! ^= 1;
      snap.certificate.signatures = sigs.toString('base64url');
    }
    const bytes = new Uint8Array(Buffer.from(JSON.stringify(snap), 'utf8'));
    process.stdout.write(`${JSON.stringify({ level: 30, msg: 'tampered snapshot', mode })}\n`);
    return { header: { ...real.header, bytes: bytes.length }, bytes };
  };
}
