/**
 * A small metrics registry rendered in the Prometheus text exposition format (version 0.0.4).
 * Counters and gauges with optional labels. On the hot path, bind a label set once with
 * `labels()` and increment the handle: no key is built and nothing is allocated per increment.
 */

type Labels = Record<string, string>;

/** One series of a counter, bound to its label set: `inc()` is a field add. */
export interface CounterHandle {
  inc(by?: number): void;
  readonly value: number;
}

interface Series {
  labels: Labels;
  value: number;
}

abstract class Metric {
  protected readonly series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  protected entry(labels: Labels | undefined): Series {
    const key = labels ? labelKey(labels) : '';
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels ?? {}, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** Current value for a label set (0 when never touched): for tests and dumps. */
  get(labels?: Labels): number {
    return this.series.get(labels ? labelKey(labels) : '')?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (this.series.size === 0 && this.type === 'counter') lines.push(`${this.name} 0`);
    for (const s of this.series.values()) lines.push(`${this.name}${formatLabels(s.labels)} ${s.value}`);
    return lines.join('\n');
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels?: Labels, by = 1): void {
    this.entry(labels).value += by;
  }
  /**
   * A handle on the series of `labels`. The series appears in `render()` at its first increment,
   * as with `inc(labels)`; from then on the handle adds to it directly.
   */
  labels(labels: Labels): CounterHandle {
    const bound = { ...labels };
    let s: Series | undefined;
    const entry = (): Series => (s ??= this.entry(bound));
    return {
      inc: (by = 1) => {
        entry().value += by;
      },
      get value() {
        return s?.value ?? 0;
      },
    };
  }
}

export class Gauge extends Metric {
  /** A gauge may instead be computed when scraped. */
  private collector: (() => Array<{ labels?: Labels; value: number }>) | undefined;
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels?: Labels): void {
    this.entry(labels).value = value;
  }
  inc(labels?: Labels, by = 1): void {
    this.entry(labels).value += by;
  }
  dec(labels?: Labels, by = 1): void {
    this.entry(labels).value -= by;
  }
  collect(fn: () => Array<{ labels?: Labels; value: number }>): this {
    this.collector = fn;
    return this;
  }
  override render(): string {
    if (this.collector) {
      this.series.clear();
      for (const { labels, value } of this.collector()) this.set(value, labels);
    }
    return super.render();
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return this.getOrCreate(name, () => new Counter(name, help)) as Counter;
  }

  gauge(name: string, help: string): Gauge {
    return this.getOrCreate(name, () => new Gauge(name, help)) as Gauge;
  }

  /** Prometheus text format. */
  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('\n') + '\n';
  }

  private getOrCreate(name: string, make: () => Metric): Metric {
    let m = this.metrics.get(name);
    if (!m) {
      m = make();
      this.metrics.set(name, m);
    }
    return m;
  }
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  // The common case, one label, needs no sort.
  if (keys.length === 1) {
    const k = keys[0] ?? '';
    return `${k}=${labels[k] ?? ''}`;
  }
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`)
    .join(',');
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${keys.map((k) => `${k}="${escape(labels[k] ?? '')}"`).join(',')}}`;
}
