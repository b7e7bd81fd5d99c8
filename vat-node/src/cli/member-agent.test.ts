import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Config } from './config.ts';
import {
  type ConfigMapReader,
  membership,
  runAwaitGenesis,
  runMemberIdentity,
} from './member-agent.ts';

const root = mkdtempSync(join(tmpdir(), 'member-agent-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('await-genesis: who is in the configuration, replaying the chain from the genesis', () => {
  const doc = {
    genesis: { members: ['A', 'B', 'C'] },
    records: [
      { request: { change: { op: 'add-learner', member: 'D' } } },
      { request: { change: { op: 'add', member: 'D' } } },
      { request: { change: { op: 'add-learner', member: 'E' } } },
      { request: { change: { op: 'remove', member: 'A' } } },
      { request: { change: { op: 'threshold' } } },
    ],
  };
  const m = membership(doc);
  assert.deepEqual([...m.members].sort(), ['B', 'C', 'D']);
  assert.deepEqual([...m.learners], ['E']);
  const dropped = membership({
    ...doc,
    records: [...doc.records, { request: { change: { op: 'remove-learner', member: 'E' } } }],
  });
  assert.deepEqual([...dropped.learners], []);
  assert.deepEqual([...membership({ genesis: { members: ['A'] } }).members], ['A']);
});

test('identity: the key stays on the volume, only the VatID is reported, the same every time', async () => {
  const dataDir = join(root, 'data');
  const quorumDir = join(root, 'q1');
  mkdirSync(quorumDir);
  const config = {
    dataDir,
    quorumDir,
    terminationLog: join(root, 'termination-log'),
  } as Config<'member-agent identity'>;
  assert.equal(await runMemberIdentity(config), 0);
  const first = JSON.parse(readFileSync(config.terminationLog, 'utf8'));
  assert.deepEqual(Object.keys(first), ['vatId']);
  assert.match(first.vatId, /^12D3KooW/);
  assert.equal(readFileSync(join(quorumDir, 'vatid'), 'utf8'), first.vatId);
  assert.equal(await runMemberIdentity(config), 0);
  assert.deepEqual(JSON.parse(readFileSync(config.terminationLog, 'utf8')), first, 'same key');
  // A data directory that cannot be used: exit 1, nothing reported.
  const bad = { ...config, dataDir: join(config.terminationLog, 'sub') };
  assert.equal(await runMemberIdentity(bad), 1);
});

test('await-genesis: waits for the genesis, then for admission, then hands both to the node', async () => {
  const quorumDir = join(root, 'q2');
  mkdirSync(quorumDir);
  const me = '12D3KooWme';
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(quorumDir, 'vatid'), me);
  const genesis = { members: ['A', 'B', 'C'] };
  let maps: Record<string, { data?: Record<string, string> } | undefined> = {};
  let failNext = false;
  const asked: string[] = [];
  const reader: ConfigMapReader = {
    get: async (name) => {
      asked.push(name);
      if (failNext) {
        failNext = false;
        throw new Error('HTTP 500: etcd');
      }
      return maps[name];
    },
  };
  const config = {
    quorumDir,
    genesisConfigmap: 'q-genesis',
    chainConfigmap: 'q-chain',
    poll: 5,
  } as Config<'member-agent await-genesis'>;
  const done = runAwaitGenesis(config, reader);
  const turn = () => new Promise((r) => setTimeout(r, 30));
  await turn();
  assert.ok(asked.includes('q-genesis'));
  assert.throws(() => statSync(join(quorumDir, 'genesis.json')), 'nothing before the genesis');
  // The genesis exists, but this member is not in it (a scale-up's new pod): it waits.
  maps = {
    'q-genesis': { data: { 'genesis.json': JSON.stringify(genesis), quorum: 'Q' } },
    'q-chain': { data: { 'chain.json': JSON.stringify({ quorum: 'Q', genesis, records: [] }) } },
  };
  failNext = true; // an API server hiccup is retried
  await turn();
  assert.throws(() => statSync(join(quorumDir, 'genesis.json')), 'not admitted yet');
  const chain = JSON.stringify({
    quorum: 'Q',
    genesis,
    records: [{ request: { change: { op: 'add-learner', member: me } } }],
  });
  maps['q-chain'] = { data: { 'chain.json': chain } };
  assert.equal(await done, 0);
  assert.equal(readFileSync(join(quorumDir, 'chain.json'), 'utf8'), chain);
  assert.deepEqual(JSON.parse(readFileSync(join(quorumDir, 'genesis.json'), 'utf8')), genesis);
});

test('await-genesis: a first member starts from the genesis alone when no chain was written', async () => {
  const quorumDir = join(root, 'q3');
  mkdirSync(quorumDir);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(quorumDir, 'vatid'), 'B');
  const genesis = { members: ['A', 'B', 'C'] };
  const reader: ConfigMapReader = {
    get: async (name) =>
      name === 'g' ? { data: { 'genesis.json': JSON.stringify(genesis), quorum: 'Q' } } : undefined,
  };
  const config = {
    quorumDir,
    genesisConfigmap: 'g',
    chainConfigmap: 'c',
    poll: 5,
  } as Config<'member-agent await-genesis'>;
  assert.equal(await runAwaitGenesis(config, reader), 0);
  assert.deepEqual(JSON.parse(readFileSync(join(quorumDir, 'chain.json'), 'utf8')), {
    quorum: 'Q',
    genesis,
    records: [],
  });
});
