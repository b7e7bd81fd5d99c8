import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { apiMessage, isGone } from './api.ts';

const status = (code: number, reason: string, message: string, causes?: object[]) =>
  new ApiException(
    code,
    'Unsuccessful HTTP Request',
    JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      message,
      reason,
      code,
      ...(causes ? { details: { causes } } : {}),
    }),
    {},
  );

test('gone: a deleted object or a namespace being deleted; not other refusals', () => {
  assert.equal(isGone(status(404, 'NotFound', 'vats.quorumvat.dev "v0" not found')), true);
  const terminating = status(
    403,
    'Forbidden',
    'services "quorumvat-dht" is forbidden: unable to create new content in namespace x because it is being terminated',
    [{ reason: 'NamespaceTerminating' }],
  );
  assert.equal(isGone(terminating), true);
  assert.equal(
    isGone(status(403, 'Forbidden', 'User "x" cannot get resource "leases"')),
    false,
    'missing rights are a real failure',
  );
  assert.equal(isGone(status(409, 'Conflict', 'the object has been modified')), false);
  assert.equal(isGone(new Error('ECONNRESET')), false);
  assert.equal(apiMessage(terminating).startsWith('services "quorumvat-dht" is forbidden'), true);
});
