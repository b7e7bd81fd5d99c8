import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, isFree } from './free-port.ts';

test('freePort: distinct ports below the ephemeral range, each one bindable', async () => {
  const low = Number(
    readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
  );
  const ports = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length);
  for (const p of ports) {
    assert.ok(p >= 1_024 && p < low, `${p} below ${low}`);
    assert.equal(await isFree(p), true);
  }
});

test('isFree: a port something listens on is not free', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  assert.equal(await isFree(port), false);
  await new Promise((resolve) => server.close(resolve));
  assert.equal(await isFree(port), true);
});
