// The container image on a real Docker engine (testcontainers): built from the Dockerfile, three
// vat nodes on a user-defined network finding each other by name, sturdyrefs redeemed from
// another container, docker stop (SIGTERM: exit 0, the crank in progress finished) and
// docker kill (SIGKILL) with a restart on the same volume, readiness before start-up and with a
// full or read-only data directory, /metrics. Traffic stays on the test's Docker network;
// every container, network and volume of the run is removed afterwards, even on failure.
// Needs root (it installs and starts dockerd when missing); run under the heavy lock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseExposition } from '../../vat-node/src/node/http/metrics.ts';
import {
  buildImage,
  cli,
  docker,
  dockerStatus,
  GenericContainer,
  here,
  httpGet,
  ipOf,
  Run,
  readInContainer,
  type StartedNetwork,
  Wait,
  waitReadiness,
  waitReady,
} from './lib.ts';

const GAS = '2000000000';
let tag = '';
const run = new Run();
let net: StartedNetwork;
let netName = '';

interface NodeOptions {
  volume?: string;
  tmpfs?: string;
  contract?: string;
  env?: Record<string, string>;
  /** Log line to wait for before start() returns. */
  waitFor?: string;
}

/** A vat node container; its DNS name on the network is `what`. */
async function startNode(what: string, o: NodeOptions = {}): Promise<{ name: string; ip: string }> {
  const name = run.name(what);
  let c = new GenericContainer(tag)
    .withName(name)
    .withNetwork(net)
    .withNetworkAliases(what)
    .withLabels(run.label)
    .withCommand(['node', '--gas', GAS])
    .withEnvironment({
      QUORUMVAT_CONTRACT: `/contracts/${o.contract ?? 'ledger.js'}`,
      QUORUMVAT_NAME: what,
      QUORUMVAT_ANNOUNCE: `/dns4/${what}/tcp/4001`,
      ...o.env,
    })
    .withBindMounts([
      { source: `${here}contracts`, target: '/contracts', mode: 'ro' },
      ...(o.volume ? [{ source: o.volume, target: '/data', mode: 'rw' as const }] : []),
    ])
    .withWaitStrategy(Wait.forLogMessage(o.waitFor ?? 'vat node ready'))
    .withStartupTimeout(120_000);
  if (o.tmpfs) c = c.withTmpFs({ '/data': o.tmpfs });
  await c.start();
  return { name, ip: await ipOf(name, netName) };
}

async function identity(ip: string): Promise<{ vatId: string; addresses: string[] }> {
  const r = await httpGet(ip, '/identity');
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

async function metrics(ip: string): Promise<Map<string, number>> {
  const r = await httpGet(ip, '/metrics');
  assert.equal(r.status, 200);
  return parseExposition(r.body);
}

async function send(from: string, ref: string, method: string, ...args: string[]): Promise<string> {
  const r = await cli(from, 'send', ref, method, ...args);
  assert.equal(r.code, 0, `send ${method} from ${from}: ${r.out}`);
  return r.out.trim();
}

const rootRef = (container: string) =>
  readInContainer(container, '/data/root.sturdyref').then((s) => s.trim());
const withoutHints = (ref: string) => ref.split('?')[0]!;

describe('the container image', { timeout: 900_000 }, () => {
  before(async () => {
    const built = await buildImage();
    tag = built.tag;
    console.log(`# image ${tag} built in ${Math.round(built.buildMs)} ms`);
    net = await run.network();
    netName = net.getName();
    assert.ok(netName.startsWith(run.id), netName);
  });

  after(async () => {
    await run.cleanup();
    assert.deepEqual(await run.leftovers(), [], 'every container, network and volume removed');
  });

  test('image metadata: non-root, /data volume, ports, OCI labels, entrypoint', async () => {
    const [config] = JSON.parse(await docker('image', 'inspect', tag)) as {
      Config: {
        User: string;
        Volumes: Record<string, unknown>;
        ExposedPorts: Record<string, unknown>;
        Labels: Record<string, string>;
        Entrypoint: string[];
        Env: string[];
      };
    }[];
    const c = config!.Config;
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(Object.keys(c.Volumes), ['/data']);
    assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['4001/tcp', '9090/tcp']);
    for (const l of ['source', 'version', 'licenses', 'revision']) {
      assert.ok(c.Labels[`org.opencontainers.image.${l}`], `label ${l}`);
    }
    assert.equal(c.Labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    assert.deepEqual(c.Entrypoint, ['node', '/app/vat-node/src/cli/main.ts']);
    assert.ok(c.Env.includes('QUORUMVAT_HTTP=0.0.0.0:9090'));
    // Production dependencies only: no dev tools in the image.
    const r = await dockerStatus(
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'node',
      tag,
      '-e',
      "for (const p of ['typescript', '@biomejs/biome', 'testcontainers']) { try { require.resolve(p); console.log(p); } catch {} }",
    );
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '', `dev dependencies in the image: ${r.out}`);
  });

  const nodes: Record<'a' | 'b' | 'c', { name: string; ip: string; vatId: string; ref: string }> =
    {} as never;
  let expected = { a: 0, b: 0, c: 0 };

  test('three vat nodes find each other by name and exchange messages; /metrics moves with traffic', async () => {
    const start = performance.now();
    const a = await startNode('vat-a', { volume: await run.volume('a') });
    console.log(`# container start to ready: ${Math.round(performance.now() - start)} ms`);
    // By name only: the bootstrap peer's VatID is learnt when it answers.
    const bootstrap = { QUORUMVAT_BOOTSTRAP: '/dns4/vat-a/tcp/4001' };
    const [b, c] = await Promise.all([
      // B runs the docker-stop crank: a wall-clock limit and a stop grace far above its seconds,
      // so a slow machine makes the crank longer, not a different outcome.
      startNode('vat-b', {
        volume: await run.volume('b'),
        env: { ...bootstrap, QUORUMVAT_CRANK_TIMEOUT: '60s', QUORUMVAT_STOP_GRACE: '25s' },
      }),
      startNode('vat-c', { volume: await run.volume('c'), env: bootstrap }),
    ]);
    for (const [k, n] of Object.entries({ a, b, c }) as ['a' | 'b' | 'c', typeof a][]) {
      await waitReady(n.ip);
      nodes[k] = { ...n, vatId: (await identity(n.ip)).vatId, ref: await rootRef(n.name) };
      assert.match(nodes[k].ref, /^quorumvat:\/\//);
    }
    assert.equal(new Set(Object.values(nodes).map((n) => n.vatId)).size, 3);
    for (const n of Object.values(nodes)) {
      const { addresses } = await identity(n.ip);
      assert.ok(addresses.length > 0);
      assert.ok(!addresses.some((x) => x.includes('/ip4/0.0.0.0/')), `${addresses}`);
    }
    const before = await metrics(a.ip);

    // Each container's client redeems another container's sturdyref.
    assert.equal(await send(b.name, nodes.a.ref, 'add', '1'), '1');
    assert.equal(await send(c.name, nodes.b.ref, 'add', '2'), '2');
    assert.equal(await send(a.name, nodes.c.ref, 'add', '3'), '3');
    assert.equal(await send(c.name, nodes.a.ref, 'add', '10'), '11');
    expected = { a: 11, b: 2, c: 3 };
    // A sturdyref without address hints: found through the DHT, joined by name.
    const r = await cli(
      b.name,
      'send',
      withoutHints(nodes.c.ref),
      'total',
      '--bootstrap',
      bootstrap.QUORUMVAT_BOOTSTRAP,
    );
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '3');

    const after = await metrics(a.ip);
    const grew = (k: string, by = 1) =>
      assert.ok(
        (after.get(k) ?? 0) >= (before.get(k) ?? 0) + by,
        `${k}: ${before.get(k)} → ${after.get(k)}`,
      );
    grew('quorumvat_deliveries_total', 2);
    grew('quorumvat_cranks_total', 2);
    grew('quorumvat_gas_used_total');
    grew('quorumvat_vattp_frames_received_total', 2);
    grew('quorumvat_vattp_frames_sent_total', 2);
    grew('quorumvat_commit_seconds_count', 2);
    assert.equal(after.get('quorumvat_ready'), 1);
    assert.equal(after.get('quorumvat_store_failed'), 0);
    assert.equal(after.get('quorumvat_vattp_bad_frames_total'), 0);
    assert.equal(after.get('quorumvat_run_queue_depth'), 0);
  });

  test('docker stop: SIGTERM finishes the crank in progress, exits 0; the node resumes on its volume', async () => {
    const b = nodes.b;
    // A crank of a few seconds: 10⁹ metered loop iterations (half the test's gas limit), which
    // took over 4 s on a busy 2-core machine. Not calibrated by timing clients: their start-up
    // noise swamped the loop and the estimate once ran past the gas limit. Whatever this
    // machine's speed, B's crank limit (60 s) and stop grace (25 s) stay far off, and the stop
    // comes about half a second into the crank.
    const iterations = 1_000_000_000;
    const m0 = await metrics(b.ip);

    // The client in C waits for spin's answer while B is stopped in the middle of it.
    const spinning = cli(nodes.c.name, 'send', b.ref, 'spin', String(iterations), '5');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = await metrics(b.ip);
      const received =
        (m.get('quorumvat_vattp_messages_received_total') ?? 0) >
        (m0.get('quorumvat_vattp_messages_received_total') ?? 0);
      if (received) {
        // The client's first messages arrived (the redemption, then the call): give the spin
        // crank half a second to start; it runs for seconds.
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(
          (await metrics(b.ip)).get('quorumvat_deliveries_total'),
          m0.get('quorumvat_deliveries_total'),
          'spin not done yet',
        );
        break;
      }
      assert.ok(Date.now() < deadline, 'spin never reached B');
      await new Promise((r) => setTimeout(r, 20));
    }
    const stopStart = performance.now();
    await docker('stop', '--time', '30', b.name);
    const stopMs = performance.now() - stopStart;
    const exit = await docker('inspect', '-f', '{{.State.ExitCode}}', b.name);
    assert.equal(exit, '0', 'clean exit on SIGTERM');
    const answer = await spinning; // answered while B is down: it finished the crank before exiting
    assert.equal(answer.code, 0, answer.out);
    assert.equal(answer.out.trim(), String(expected.b + 5));
    expected.b += 5;
    const logs = await docker('logs', b.name);
    const stopped = logs.split('\n').filter((l) => l.includes('vat node stopped'));
    assert.equal(stopped.length, 1, logs);
    const line = JSON.parse(stopped[0]!) as { outcome: string; ms: number };
    assert.equal(line.outcome, 'clean');
    // It waited for the crank (seconds, caught early in it): closing at once takes tens of ms.
    assert.ok(line.ms >= 300, `stop took ${line.ms} ms: was the crank in progress?`);
    console.log(
      `# docker stop with a crank in progress: ${Math.round(stopMs)} ms (node: ${line.ms} ms)`,
    );

    await docker('start', b.name);
    const ip = await ipOf(b.name, netName);
    await waitReady(ip);
    nodes.b.ip = ip;
    assert.equal((await identity(ip)).vatId, b.vatId, 'same VatID');
    assert.equal(withoutHints(await rootRef(b.name)), withoutHints(b.ref), 'same root sturdyref');
    // The sturdyref held before the restart still works; nothing was lost.
    assert.equal(await send(nodes.a.name, b.ref, 'total'), String(expected.b));
    assert.equal(await send(nodes.a.name, b.ref, 'add', '1'), String(++expected.b));
  });

  test('docker kill (SIGKILL): nothing committed is lost; the node resumes on its volume', async () => {
    const a = nodes.a;
    for (let i = 0; i < 3; i++) expected.a = Number(await send(nodes.b.name, a.ref, 'add', '7'));
    await docker('kill', '--signal', 'KILL', a.name);
    assert.equal(await docker('inspect', '-f', '{{.State.ExitCode}}', a.name), '137');
    await docker('start', a.name);
    const ip = await ipOf(a.name, netName);
    await waitReady(ip);
    nodes.a.ip = ip;
    assert.equal((await identity(ip)).vatId, a.vatId);
    assert.equal(withoutHints(await rootRef(a.name)), withoutHints(a.ref));
    assert.equal(await send(nodes.c.name, a.ref, 'total'), String(expected.a));
  });

  test('not ready before the store is open and the vat runs; ready after', async () => {
    const d = await startNode('vat-d', {
      contract: 'slow-start.js',
      waitFor: 'http endpoint listening',
    });
    const seen = await waitReady(d.ip);
    assert.ok(seen.includes(503), `answers before ready: ${seen.join(' → ')}`);
    assert.equal(seen.at(-1), 200);
    assert.equal((await httpGet(d.ip, '/healthz')).status, 200);
  });

  test('a full data directory: not ready, then ready again once there is room', async () => {
    const e = await startNode('vat-e', { tmpfs: 'rw,size=8m,uid=1000,gid=1000,mode=0700' });
    await waitReady(e.ip);
    const ref = await rootRef(e.name);
    const fill = `const fs=require('fs');const b=Buffer.alloc(65536);const fd=fs.openSync('/data/fill','w');try{for(;;)fs.writeSync(fd,b)}catch(e){if(e.code!=='ENOSPC')throw e}`;
    await docker('exec', e.name, 'node', '-e', fill);
    assert.match(await waitReadiness(e.ip, 503, /full/), /ENOSPC/);
    await docker('exec', e.name, 'node', '-e', "require('fs').unlinkSync('/data/fill')");
    await waitReadiness(e.ip, 200, /ready/);

    // Full again, and a commit fails: the store refuses new work until a restart.
    await docker('exec', e.name, 'node', '-e', fill);
    const call = await cli(nodes.a.name, 'send', ref, 'add', '1', '--timeout', '10s');
    assert.notEqual(call.code, 0, `a call to a vat whose store is full: ${call.out}`);
    await waitReadiness(e.ip, 503, /store failed/);
    assert.equal((await metrics(e.ip)).get('quorumvat_store_failed'), 1);
    // Room again, but the kernel refused work: still not ready (a restart resumes it).
    await docker('exec', e.name, 'node', '-e', "require('fs').unlinkSync('/data/fill')");
    await waitReadiness(e.ip, 503, /store failed/);
    const logs = (await docker('logs', e.name)).split('\n');
    const failures = logs.filter((l) => /store failed/.test(l) && /"level":50/.test(l));
    assert.equal(failures.length, 1, `one error line, not one per retry:\n${failures.join('\n')}`);
  });

  test('a read-only data directory: not ready; ready again when writable', async () => {
    const volume = await run.volume('f');
    const f = await startNode('vat-f', { volume });
    await waitReady(f.ip);
    const dir = await run.volumePath(volume);
    await run.immutable([dir], true);
    assert.match(await waitReadiness(f.ip, 503, /not writable/), /EPERM|EACCES/);
    await run.immutable([dir], false);
    await waitReadiness(f.ip, 200, /ready/);
  });
});
