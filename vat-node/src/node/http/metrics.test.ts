import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRegistry, parseExposition } from './metrics.ts';

test('counters, gauges and labelled samples render as exposition text that parses back', () => {
  const m = new MetricsRegistry();
  let n = 3;
  m.counter('x_total', 'a counter', () => n);
  m.gauge('y', 'a gauge\nwith a newline', () => [
    [{ peer: 'a"b\\c\nd' }, 1],
    [{ peer: 'e' }, 2.5],
  ]);
  const text = m.render();
  assert.match(text, /^# HELP x_total a counter\n# TYPE x_total counter\nx_total 3\n/);
  assert.match(text, /# HELP y a gauge\\nwith a newline\n/);
  const s = parseExposition(text);
  assert.equal(s.get('x_total'), 3);
  assert.equal(s.get('y{peer="a\\"b\\\\c\\nd"}'), 1);
  assert.equal(s.get('y{peer="e"}'), 2.5);
  n = 7;
  assert.equal(parseExposition(m.render()).get('x_total'), 7, 'read at scrape time');
});

test('a histogram has cumulative buckets, +Inf, sum and count', () => {
  const m = new MetricsRegistry();
  const h = m.histogram('lat_seconds', 'latency', [0.1, 0.01, 1]);
  for (const v of [0.005, 0.05, 0.05, 0.5, 5]) h.observe(v);
  const s = parseExposition(m.render());
  assert.equal(s.get('lat_seconds_bucket{le="0.01"}'), 1);
  assert.equal(s.get('lat_seconds_bucket{le="0.1"}'), 3);
  assert.equal(s.get('lat_seconds_bucket{le="1"}'), 4);
  assert.equal(s.get('lat_seconds_bucket{le="+Inf"}'), 5);
  assert.equal(s.get('lat_seconds_count'), 5);
  assert.ok(Math.abs((s.get('lat_seconds_sum') ?? 0) - 5.605) < 1e-9);
});

test('a family whose reader throws is left out; the rest still renders', () => {
  const m = new MetricsRegistry();
  m.gauge('broken', 'no source yet', () => {
    throw Error('not yet');
  });
  m.gauge('fine', 'ok', () => 1);
  const text = m.render();
  assert.doesNotMatch(text, /broken/);
  assert.equal(parseExposition(text).get('fine'), 1);
});

test('bad names, counters without _total and duplicates are refused at registration', () => {
  const m = new MetricsRegistry();
  assert.throws(() => m.gauge('1bad', 'x', () => 0), /bad metric name/);
  assert.throws(() => m.counter('requests', 'x', () => 0), /must end in _total/);
  m.gauge('g', 'x', () => 0);
  assert.throws(() => m.gauge('g', 'x', () => 0), /registered twice/);
});

test('the parser refuses what Prometheus would refuse', () => {
  for (const bad of ['x 1 2 3', 'x{a=b} 1', '# TYPE x bogus', 'x notanumber', 'x 1\nx 2']) {
    assert.throws(() => parseExposition(bad), Error, bad);
  }
});
