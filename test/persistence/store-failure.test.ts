/**
 * The store fails under a running kernel (disk full, files turned read-only): the kernel
 * refuses new work with a clear error, says so once, acks nothing it did not commit, and a
 * restart once the disk is fine again finds everything it committed. Needs root (mount,
 * chattr), like the store's own tests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Kernel, KernelUnavailable } from '../../vat-node/src/kernel/kernel.ts';
import { ProtocolError } from '../../vat-node/src/protocol/errors.ts';
import { DB_FILE } from '../../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';

const counter = readFileSync(new URL('../kernel/contracts/counter.js', import.meta.url), 'utf8');

function run(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function scratch(t: TestContext): { dir: string; undo: (f: () => unknown) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'qv-storefail-'));
  const stack: (() => unknown)[] = [];
  t.after(() => {
    for (const f of stack.reverse()) f();
    if (!readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir}`)) {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return { dir, undo: (f) => stack.push(f) };
}

const start = (dataDir: string, failures: string[]) =>
  Kernel.create(
    {
      vatId: 'A',
      vatName: 'A',
      contractSource: counter,
      gasLimit: 1_000_000,
      dataDir,
      events: (e) => {
        if (e.type === 'store-failed') failures.push(e.reason);
      },
    },
    new LocalNetwork().transport(),
  );

async function refusesWork(a: Kernel, failures: string[], reason: RegExp): Promise<void> {
  assert.equal(failures.length, 1, 'one line');
  assert.match(failures[0]!, reason);
  await assert.rejects(a.call('o+0', 'incr', [1]), KernelUnavailable);
  assert.throws(() => a.mintSturdyRef('o+0'), KernelUnavailable);
  // The transport must not ack, and must not blame the peer (no ProtocolError).
  const msg = { op: 'echoed', token: 1 } as const;
  assert.throws(
    () => a.receive('B', 1, msg),
    (e: unknown) => e instanceof KernelUnavailable && !(e instanceof ProtocolError),
  );
  assert.equal(a.committedInbound('B'), 0);
}

test('disk full: the kernel refuses new work, and loses nothing it committed', async (t) => {
  const { dir: mnt, undo } = scratch(t);
  assert.ok(run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]), 'mount (needs root)');
  undo(() => run('umount', [mnt]));
  const ballast = join(mnt, 'ballast');
  const fd = openSync(ballast, 'w');
  writeSync(fd, Buffer.alloc(384 * 1024, 1)); // freed again for the restart below
  closeSync(fd);
  const dir = join(mnt, 'data');
  const failures: string[] = [];
  const a = await start(dir, failures);
  assert.deepEqual(await a.call('o+0', 'incr', [7]), { rejected: false, value: 7 });
  // Big transcript rows until the disk is full.
  let refused: unknown;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    await a.call('o+0', 'echo', ['x'.repeat(20_000)]).catch((e: unknown) => {
      refused = e;
    });
  }
  assert.ok(refused instanceof KernelUnavailable, String(refused));
  assert.match((refused as Error).message, /disk full/);
  await refusesWork(a, failures, /store failed, refusing new work: .*disk full/);
  await a.close();

  rmSync(ballast);
  const again: string[] = [];
  const a2 = await start(dir, again);
  t.after(() => a2.close());
  assert.deepEqual(await a2.call('o+0', 'incr', [1]), { rejected: false, value: 8 });
  assert.deepEqual(again, []);
});

test('data files turned read-only under a running kernel: refused, nothing lost', async (t) => {
  const { dir, undo } = scratch(t);
  const failures: string[] = [];
  const a = await start(dir, failures);
  assert.deepEqual(await a.call('o+0', 'incr', [5]), { rejected: false, value: 5 });
  const files = [DB_FILE, `${DB_FILE}-wal`].map((f) => join(dir, f)).filter((f) => existsSync(f));
  undo(() => {
    for (const f of [...files, dir]) run('chattr', ['-i', f]);
  });
  for (const f of [...files, dir]) assert.ok(run('chattr', ['+i', f]), `chattr +i ${f}`);
  await assert.rejects(a.call('o+0', 'incr', [1]), /read-only|not writable/);
  await refusesWork(a, failures, /store failed, refusing new work/);
  for (const f of [...files, dir]) run('chattr', ['-i', f]);
  await a.close();
  const a2 = await start(dir, []);
  t.after(() => a2.close());
  assert.deepEqual(await a2.call('o+0', 'incr', [0]), { rejected: false, value: 5 });
});
