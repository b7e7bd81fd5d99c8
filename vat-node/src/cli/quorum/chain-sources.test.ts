import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { assembleCertificate } from '../../quorum/certificate.ts';
import {
  type ChainRecord,
  ConfigChain,
  type ConfigChange,
  changeStatement,
  requestChange,
} from '../../quorum/chain.ts';
import type { QuorumConfig } from '../../quorum/config.ts';
import { type ChainDocument, chainDocument } from '../../quorum/status.ts';
import { makeTestMembers, makeTestQuorum } from '../../quorum/testing.ts';
import { newestChain } from './chain-sources.ts';

const q = await makeTestQuorum(4, 3);
const other = await makeTestQuorum(3, 2);
const [n1, n2] = await makeTestMembers(2);

/** A record certified by the first k members (who may sign anything: this is the test's power). */
function record(config: QuorumConfig, change: ConfigChange, position: number): ChainRecord {
  const signed = requestChange(q.admin.sign, config, change);
  const statement = changeStatement(signed.request, position);
  const signers = config.members.slice(0, config.threshold);
  return {
    ...signed,
    position,
    certificate: assembleCertificate(
      config,
      signers.map((m) => [m, q.signerOf.get(m)!(statement)] as const),
    ),
  };
}

const base = new ConfigChain(q.config.quorum, q.genesis);
const r0 = record(base.current, { op: 'add-learner', member: n1!.vatId }, 3);
const one = new ConfigChain(q.config.quorum, q.genesis, [r0]);
const r1 = record(one.current, { op: 'remove-learner', member: n1!.vatId }, 8);
const two = new ConfigChain(q.config.quorum, q.genesis, [r0, r1]);
// A different change for epoch 0, also certified: only more than f faulty members can do that.
const fork = new ConfigChain(q.config.quorum, q.genesis, [
  record(base.current, { op: 'add-learner', member: n2!.vatId }, 3),
]);

/** A real HTTP server answering GET /quorum/chain with `body` (or `status`). */
async function member(body: unknown, status = 200): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function view(docs: (ChainDocument | { status: number } | unknown)[], file?: ChainDocument) {
  const servers = await Promise.all(
    docs.map((d) =>
      typeof d === 'object' && d !== null && 'status' in d && !('genesis' in d)
        ? member({ error: 'x' }, (d as { status: number }).status)
        : member(d),
    ),
  );
  try {
    return await newestChain(
      q.genesis,
      file && { path: 'chain.json', text: JSON.stringify(file) },
      servers.map((s) => s.url),
      5_000,
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.server.close(r))));
  }
}

test('the longest verified chain wins; a shorter one that is its prefix is fine', async () => {
  const v = await view([chainDocument(one), chainDocument(two)], chainDocument(base));
  assert.equal(v.chain.current.epoch, 2);
  assert.equal(v.conflict, undefined);
  assert.deepEqual(v.sources.map((s) => s.records).sort(), [0, 1, 2]);
  const alone = await newestChain(q.genesis, undefined, [], 1_000);
  assert.equal(alone.chain.current.epoch, 0, 'the genesis alone');
});

test('two verified chains that are not prefixes of each other: a conflict, named', async () => {
  const v = await view([chainDocument(two), chainDocument(fork)]);
  assert.match(
    v.conflict ?? '',
    /the chains of http:\/\/127\.0\.0\.1:\d+ and http:\/\/127\.0\.0\.1:\d+ differ/,
  );
});

test("a chain that does not verify, or garbage, is invalid; a solo node or another quorum's chain is unavailable", async () => {
  const tampered = JSON.parse(JSON.stringify(chainDocument(two)));
  tampered.records[1].position = 9;
  const v = await view([
    tampered,
    { status: 404 },
    chainDocument(new ConfigChain(other.config.quorum, other.genesis)),
    'garbage',
    chainDocument(one),
  ]);
  assert.equal(v.chain.current.epoch, 1, 'what verified is used');
  const [bad, solo, wrong, garbage] = v.sources;
  assert.match(bad!.invalid ?? '', /^record 1: certificate/);
  assert.match(solo!.unavailable ?? '', /serves no quorum chain/);
  assert.match(wrong!.unavailable ?? '', /chain document of quorum\w+, not quorum\w+/);
  assert.match(garbage!.invalid ?? '', /chain document/);
});
