import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isProtocolError, PROTOCOL_ERROR_CODES, ProtocolError } from './errors.ts';

test('a ProtocolError carries its code, message and cause; codes are distinct', () => {
  assert.equal(new Set(PROTOCOL_ERROR_CODES).size, PROTOCOL_ERROR_CODES.length);
  const cause = new Error('inner');
  for (const code of PROTOCOL_ERROR_CODES) {
    const e = new ProtocolError(code, `reason for ${code}`, { cause });
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'ProtocolError');
    assert.equal(e.code, code);
    assert.equal(e.message, `reason for ${code}`);
    assert.equal(e.cause, cause);
    assert.ok(isProtocolError(e));
    assert.ok(isProtocolError(e, code));
    for (const other of PROTOCOL_ERROR_CODES) {
      if (other !== code) assert.ok(!isProtocolError(e, other), `${code} is not ${other}`);
    }
  }
});

test('isProtocolError is false for anything else, even with a matching message or code field', () => {
  const lookalike = Object.assign(new Error('x does not hold y'), { code: 'handoff-not-held' });
  for (const v of [lookalike, new TypeError('malformed'), 'malformed', null, undefined, {}]) {
    assert.equal(isProtocolError(v), false);
    assert.equal(isProtocolError(v, 'handoff-not-held'), false);
  }
});
