/**
 * A small Prometheus registry (text exposition format 0.0.4): counters and gauges read at
 * scrape time from state the node keeps anyway (kernel and VatTP counters, table sizes), and
 * histograms fed as things happen. Nothing is counted twice and nothing runs per message
 * unless a histogram needs it.
 */

export type Labels = Readonly<Record<string, string>>;
/** One value, or one value per label set. */
export type Sample = number | readonly (readonly [Labels, number])[];

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/** A histogram with fixed upper bounds (cumulative buckets, as Prometheus expects). */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  observe(v: number): void {
    this.#sum += v;
    this.#count++;
    const i = this.#bounds.findIndex((b) => v <= b);
    if (i >= 0) this.#counts[i]!++;
  }

  lines(name: string): string[] {
    const out: string[] = [];
    let cumulative = 0;
    this.#bounds.forEach((b, i) => {
      cumulative += this.#counts[i]!;
      out.push(`${name}_bucket{le="${num(b)}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${name}_sum ${num(this.#sum)}`);
    out.push(`${name}_count ${this.#count}`);
    return out;
  }
}

export class MetricsRegistry {
  readonly #families: Family[] = [];

  #add(family: Family): void {
    if (!NAME.test(family.name)) throw Error(`bad metric name ${family.name}`);
    if (this.#families.some((f) => f.name === family.name)) {
      throw Error(`metric ${family.name} registered twice`);
    }
    this.#families.push(family);
  }

  #pulled(name: string, help: string, type: 'counter' | 'gauge', read: () => Sample): void {
    this.#add({
      name,
      help,
      type,
      render: () => {
        const sample = read();
        if (typeof sample === 'number') return [`${name} ${num(sample)}`];
        return sample.map(([labels, v]) => `${name}${labelText(labels)} ${num(v)}`);
      },
    });
  }

  /** A counter whose value is read at scrape time (a name ending in _total). */
  counter(name: string, help: string, read: () => Sample): void {
    if (!name.endsWith('_total')) throw Error(`counter ${name} must end in _total`);
    this.#pulled(name, help, 'counter', read);
  }

  gauge(name: string, help: string, read: () => Sample): void {
    this.#pulled(name, help, 'gauge', read);
  }

  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(bounds);
    this.#add({ name, help, type: 'histogram', render: () => h.lines(name) });
    return h;
  }

  /** The exposition text. A family whose reader throws is left out (the scrape still works). */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families) {
      let lines: string[];
      try {
        lines = f.render();
      } catch {
        continue;
      }
      out.push(`# HELP ${f.name} ${f.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      out.push(...lines);
    }
    return `${out.join('\n')}\n`;
  }
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Parses exposition text back into samples (tests, and a check that what we serve is well
 * formed): every line is a comment or `name{labels} value`; throws on anything else.
 */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (
        !name ||
        !type ||
        !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)
      ) {
        throw Error(`bad TYPE line: ${line}`);
      }
      if (types.has(name)) throw Error(`TYPE of ${name} given twice`);
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(
        line,
      );
    if (!m) throw Error(`bad sample line: ${line}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw Error(`bad value in: ${line}`);
    const key = `${m[1]}${m[2] ?? ''}`;
    if (samples.has(key)) throw Error(`sample ${key} given twice`);
    samples.set(key, value);
  }
  return samples;
}
