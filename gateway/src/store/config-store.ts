/**
 * The configuration document and its history.
 *
 * `<dataDir>/config.json` holds the active configuration, read and written with lowdb (its writer
 * replaces the file by renaming a complete temporary file, so a reader or a crash never sees half
 * a document). Every accepted change is also kept as a numbered revision,
 * `<dataDir>/config-revisions/000001.json`, that can be listed, diffed and restored. A change is
 * validated in full before anything is written: a refused change leaves both untouched.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { systemClock, type Clock } from '../../../base/clock.ts';
import { ErrorCodes } from '../core/errors.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import type { Config } from './config-schema.ts';
import { validateConfig, type ConfigError } from './config-validate.ts';
import { diffJson, type JsonChange } from './json-diff.ts';

export const CONFIG_FILE = 'config.json';
export const REVISIONS_DIR = 'config-revisions';

export interface ChangeMeta {
  author: string;
  comment?: string;
}

export interface RevisionInfo {
  revision: number;
  /** Wall time the revision was recorded (ISO 8601). */
  at: string;
  author: string;
  comment?: string;
}

export interface RevisionRecord extends RevisionInfo {
  config: Config;
}

export interface ConfigStoreDump {
  dataDir: string;
  /** The active revision; 0 before any configuration was saved. */
  revision: number;
  /** Revisions kept in the history. */
  revisions: number;
  firstStart: boolean;
  extensions: number;
  trunks: number;
  /** Revision files that could not be read, left on disk. */
  badRevisionFiles: string[];
  closed: boolean;
}

export type ConfigListener = (config: Config, revision: number) => void;

export interface ConfigStoreOptions {
  clock?: Clock;
}

type ReadResult = Result<{ config: Config; existed: boolean }, ConfigError>;

/** Read and validate `<dataDir>/config.json`; a missing file is the empty default configuration. */
export async function loadConfig(dataDir: string): Promise<Result<Config, ConfigError>> {
  const r = await readConfigFile(join(dataDir, CONFIG_FILE));
  return r.ok ? ok(r.value.config) : r;
}

async function readConfigFile(file: string): Promise<ReadResult> {
  const db = new Low<unknown>(new JSONFile<unknown>(file), null);
  try {
    await db.read();
  } catch (e) {
    const reason =
      e instanceof SyntaxError
        ? `is not valid JSON (${e.message})`
        : `cannot be read (${(e as Error).message})`;
    const code = e instanceof SyntaxError ? ErrorCodes.CONFIG_INVALID : ErrorCodes.CONFIG_IO;
    return err({
      code,
      message: `${CONFIG_FILE}: ${reason}`,
      field: '',
      problems: [{ field: '', message: reason }],
    });
  }
  const existed = db.data !== null;
  const v = validateConfig(existed ? db.data : {});
  if (!v.ok) return err({ ...v.error, message: `${CONFIG_FILE}: ${v.error.message}` });
  return ok({ config: v.value, existed });
}

export class ConfigStore {
  private current: Config;
  private readonly history = new Map<number, RevisionRecord>();
  private readonly listeners = new Set<ConfigListener>();
  /** The change in progress, settled: never rejects (see `settled`). */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly dataDir: string,
    /** True when no config.json existed when the store was opened (first start of the appliance). */
    readonly firstStart: boolean,
    config: Config,
    private readonly db: Low<Config>,
    private readonly clock: Clock,
    /** Revision files that could not be read; kept on disk for a person to look at. */
    private readonly badRevisionFiles: string[],
  ) {
    this.current = deepFreeze(config);
  }

  static async open(
    dataDir: string,
    opts: ConfigStoreOptions = {},
  ): Promise<Result<ConfigStore, ConfigError>> {
    const file = join(dataDir, CONFIG_FILE);
    try {
      await mkdir(join(dataDir, REVISIONS_DIR), { recursive: true });
    } catch (e) {
      return ioError(`cannot create ${REVISIONS_DIR} (${(e as Error).message})`);
    }
    const read = await readConfigFile(file);
    if (!read.ok) return read;
    const { config, existed } = read.value;
    const db = new Low<Config>(new JSONFile<Config>(file), config);
    const history = await readRevisions(join(dataDir, REVISIONS_DIR));
    const store = new ConfigStore(dataDir, !existed, config, db, opts.clock ?? systemClock, history.bad);
    for (const r of history.records) store.history.set(r.revision, r);

    // A config.json written by hand (first install, or edited on the box) becomes a revision so
    // that it appears in the history and the previous state can still be restored.
    const latest = store.latest();
    if (existed && (!latest || canonical(latest.config) !== canonical(config))) {
      const recorded = await store.recordRevision(config, {
        author: CONFIG_FILE,
        comment: latest ? 'changed outside the API' : 'initial file',
      });
      if (!recorded.ok) return recorded;
    }
    return ok(store);
  }

  /** The active configuration (deeply frozen: share it, never mutate it). */
  get(): Config {
    return this.current;
  }

  /** Number of the active revision; 0 before any configuration was saved. */
  currentRevision(): number {
    return this.latest()?.revision ?? 0;
  }

  /**
   * Validate `next` and, when valid, make it the active configuration: config.json is replaced,
   * a revision recorded and listeners told. When invalid nothing is written. A document equal to
   * the active one records no revision (`changed: false`).
   */
  apply(
    next: unknown,
    meta: ChangeMeta,
  ): Promise<Result<{ revision: number; changed: boolean }, ConfigError>> {
    return this.serialize(async () => {
      if (this.closed) return ioError('the configuration store is closed');
      const v = validateConfig(next);
      if (!v.ok) return v;
      const config = v.value;
      if (this.history.size > 0 && canonical(config) === canonical(this.current)) {
        return ok({ revision: this.currentRevision(), changed: false });
      }
      try {
        this.db.data = config;
        await this.db.write();
        await fsyncFile(join(this.dataDir, CONFIG_FILE));
      } catch (e) {
        this.db.data = this.current;
        return ioError(`cannot write ${CONFIG_FILE} (${(e as Error).message})`);
      }
      const recorded = await this.recordRevision(config, meta);
      if (!recorded.ok) return recorded;
      this.current = deepFreeze(config);
      for (const listener of this.listeners) {
        try {
          listener(this.current, recorded.value);
        } catch {
          // A listener's failure is its own; the change is already durable and others still run.
        }
      }
      return ok({ revision: recorded.value, changed: true });
    });
  }

  /** Make revision `n` active again, as a new revision. */
  async restore(
    n: number,
    meta: ChangeMeta,
  ): Promise<Result<{ revision: number; changed: boolean }, ConfigError>> {
    const rec = this.history.get(n);
    if (!rec) return unknownRevision(n);
    return this.apply(rec.config, {
      author: meta.author,
      comment: meta.comment ?? `restore of revision ${n}`,
    });
  }

  revisions(): RevisionInfo[] {
    return [...this.history.values()]
      .sort((a, b) => a.revision - b.revision)
      .map(({ revision, at, author, comment }) =>
        comment === undefined ? { revision, at, author } : { revision, at, author, comment },
      );
  }

  revision(n: number): RevisionRecord | undefined {
    return this.history.get(n);
  }

  /** What changed from revision `a` to revision `b`, as JSON-pointer addressed changes. */
  diff(a: number, b: number): Result<JsonChange[], ParseError> {
    const from = this.history.get(a);
    if (!from) return unknownRevision(a);
    const to = this.history.get(b);
    if (!to) return unknownRevision(b);
    return ok(diffJson(from.config, to.config));
  }

  /** Listen for accepted changes; returns the function that stops listening. */
  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for a change in progress, then refuses further changes. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    // The change's result or error went to its own caller; here only its end matters.
    await this.queue;
  }

  dump(): ConfigStoreDump {
    return {
      dataDir: this.dataDir,
      revision: this.currentRevision(),
      revisions: this.history.size,
      firstStart: this.firstStart,
      extensions: this.current.extensions.length,
      trunks: this.current.trunks.length,
      badRevisionFiles: [...this.badRevisionFiles],
      closed: this.closed,
    };
  }

  private latest(): RevisionRecord | undefined {
    let best: RevisionRecord | undefined;
    for (const r of this.history.values()) if (!best || r.revision > best.revision) best = r;
    return best;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = settled(run);
    return run;
  }

  private async recordRevision(config: Config, meta: ChangeMeta): Promise<Result<number, ConfigError>> {
    const revision = this.currentRevision() + 1;
    const rec: RevisionRecord = {
      revision,
      at: new Date(this.clock.wallNow()).toISOString(),
      author: meta.author,
      ...(meta.comment !== undefined ? { comment: meta.comment } : {}),
      config,
    };
    const dir = join(this.dataDir, REVISIONS_DIR);
    try {
      await writeFileAtomic(join(dir, revisionFileName(revision)), JSON.stringify(rec, null, 2) + '\n');
    } catch (e) {
      return ioError(`cannot write revision ${revision} (${(e as Error).message})`);
    }
    this.history.set(revision, rec);
    return ok(revision);
  }
}

export function revisionFileName(n: number): string {
  return `${String(n).padStart(6, '0')}.json`;
}

async function readRevisions(dir: string): Promise<{ records: RevisionRecord[]; bad: string[] }> {
  const records: RevisionRecord[] = [];
  const bad: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { records, bad };
  }
  for (const name of names) {
    const m = /^(\d+)\.json$/.exec(name);
    if (!m) continue;
    try {
      const rec = JSON.parse(await readFile(join(dir, name), 'utf8')) as Partial<RevisionRecord>;
      if (
        rec.revision !== Number(m[1]) ||
        typeof rec.at !== 'string' ||
        typeof rec.author !== 'string' ||
        typeof rec.config !== 'object'
      ) {
        bad.push(name);
        continue;
      }
      records.push(rec as RevisionRecord);
    } catch {
      bad.push(name);
    }
  }
  return { records, bad };
}

/** Temp file, fsync, rename, fsync of the directory: the file is either old or new, and on disk. */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    const left = await removeTemporary(tmp);
    if (left === undefined) throw e;
    // The rename's failure is the one reported; a temporary file that stays is named in it.
    throw new Error(`${(e as Error).message}; ${tmp} is left behind (${left})`, { cause: e });
  }
  await fsyncDir(join(file, '..'));
}

/** Remove a temporary file; when it is still there afterwards, why. */
async function removeTemporary(tmp: string): Promise<string | undefined> {
  try {
    await unlink(tmp);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (e as Error).message;
  }
}

/**
 * `p` once it has settled, its value or error dropped. Only for the write queue: the caller of
 * each change holds `p` itself and receives its result or error from it, while the queue needs
 * only to know that the change is over before the next one starts.
 */
function settled(p: Promise<unknown>): Promise<void> {
  return p.then(
    () => undefined,
    () => undefined,
  );
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(join(file, '..'));
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename itself durable. Not every platform can open a directory; there it is skipped.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

function ioError(message: string): { ok: false; error: ConfigError } {
  return err({ code: ErrorCodes.CONFIG_IO, message, problems: [{ field: '', message }] });
}

function unknownRevision(n: number): { ok: false; error: ConfigError } {
  const message = `revision ${n} does not exist`;
  return err({ code: ErrorCodes.CONFIG_REVISION_UNKNOWN, message, problems: [{ field: '', message }] });
}

/** JSON with object keys sorted: equal documents give equal strings whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'object' && x !== null && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
