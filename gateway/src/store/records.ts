/**
 * Records kept on the appliance: CDRs (one row per leg, one per interaction) and the SIP
 * registration bindings that must survive a restart. SQLite in WAL mode through better-sqlite3.
 *
 * Durability: `synchronous=FULL`. A CDR acknowledged to anyone (the cloud outbox, a report, an
 * agent's screen) must still exist after a power cut, and with WAL + NORMAL the last commits are
 * lost on power loss (they survive only a process crash). Measured on the reference box: one
 * insert per transaction costs about 0.35 ms with FULL (one fsync of the WAL each) against
 * 0.015 ms with NORMAL; batched 10 per transaction FULL costs 0.015 ms per row. 1000 CDRs/s one
 * by one would block the event loop about a third of the time, so producers at that rate use
 * `insertBatch()` (one transaction, one fsync, per tick) and keep FULL's guarantee.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes } from '../core/errors.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';
import { LATEST_VERSION, migrate } from './migrations.ts';

export const RECORDS_FILE = 'records.sqlite';

export interface LegCdr {
  legId: string;
  interactionId: string;
  callId?: string | null;
  direction: 'inbound' | 'outbound';
  technology: 'sip' | 'pstn';
  /** Extension number or trunk id. */
  peer?: string | null;
  fromUri?: string | null;
  toUri?: string | null;
  callerId?: string | null;
  /** ISO 8601 wall time. */
  startedAt: string;
  answeredAt?: string | null;
  endedAt?: string | null;
  durationMs?: number | null;
  billableMs?: number | null;
  /** Final SIP status of the leg. */
  status?: number | null;
  hangupCause?: string | null;
  hangupBy?: string | null;
  trunkMember?: string | null;
  extra?: Record<string, unknown> | null;
  /** `open` from the answer, `closed` at the end (the default), `interrupted` by a crash. */
  state?: RecordState;
}

export type RecordState = 'open' | 'closed' | 'interrupted';

export type InteractionOutcome = 'answered' | 'busy' | 'no-answer' | 'failed' | 'cancelled';

export interface InteractionCdr {
  interactionId: string;
  caller?: string | null;
  callee?: string | null;
  dialled?: string | null;
  route?: string | null;
  startedAt: string;
  answeredAt?: string | null;
  endedAt?: string | null;
  durationMs?: number | null;
  outcome?: InteractionOutcome | null;
  status?: number | null;
  legs?: number | null;
  state?: RecordState;
}

/** A stored row: the input shape with its row id (the paging cursor). */
export type StoredLegCdr = LegCdr & { id: number };
export type StoredInteractionCdr = InteractionCdr & { id: number };

export interface Binding {
  aor: string;
  contact: string;
  /** Wall-clock expiry (ms since the epoch): the binding outlives a restart. */
  expiresAtMs: number;
  callId: string;
  cseq: number;
  /** `transport:address:port` the REGISTER came from. */
  source: string;
  userAgent?: string | null;
  /** RFC 5626 `+sip.instance`. */
  instance?: string | null;
  q?: number | null;
}

export interface ListOptions {
  /** Rows to return, newest first (default 100, at most 1000). */
  limit?: number;
  /** Only rows with a smaller id than this (paging cursor). */
  before?: number;
  /** Only rows in these states (every state by default). */
  states?: readonly RecordState[];
}

const ALL_STATES: readonly RecordState[] = ['open', 'closed', 'interrupted'];

export interface BindingStore {
  upsert(b: Binding): void;
  remove(aor: string, contact: string): boolean;
  removeAor(aor: string): number;
  all(): Binding[];
}

const LEG_COLUMNS = {
  legId: 'leg_id',
  interactionId: 'interaction_id',
  callId: 'call_id',
  direction: 'direction',
  technology: 'technology',
  peer: 'peer',
  fromUri: 'from_uri',
  toUri: 'to_uri',
  callerId: 'caller_id',
  startedAt: 'started_at',
  answeredAt: 'answered_at',
  endedAt: 'ended_at',
  durationMs: 'duration_ms',
  billableMs: 'billable_ms',
  status: 'status',
  hangupCause: 'hangup_cause',
  hangupBy: 'hangup_by',
  trunkMember: 'trunk_member',
  extra: 'extra',
  state: 'state',
} as const satisfies Record<keyof LegCdr, string>;

const INTERACTION_COLUMNS = {
  interactionId: 'interaction_id',
  caller: 'caller',
  callee: 'callee',
  dialled: 'dialled',
  route: 'route',
  startedAt: 'started_at',
  answeredAt: 'answered_at',
  endedAt: 'ended_at',
  durationMs: 'duration_ms',
  outcome: 'outcome',
  status: 'status',
  legs: 'legs',
  state: 'state',
} as const satisfies Record<keyof InteractionCdr, string>;

const BINDING_COLUMNS = {
  aor: 'aor',
  contact: 'contact',
  expiresAtMs: 'expires_at_ms',
  callId: 'call_id',
  cseq: 'cseq',
  source: 'source',
  userAgent: 'user_agent',
  instance: 'instance',
  q: 'q',
} as const satisfies Record<keyof Binding, string>;

type Columns = Record<string, string>;

function insertSql(table: string, cols: Columns, conflict: string): string {
  const names = Object.values(cols);
  return `INSERT INTO ${table} (${names.join(', ')}) VALUES (${Object.keys(cols)
    .map((k) => '@' + k)
    .join(', ')}) ${conflict}`;
}

/** The upsert of a CDR row: it completes an open row of the same key, nothing else. */
function completeOpen(table: string, cols: Columns, key: string): string {
  const set = Object.values(cols)
    .filter((c) => c !== key)
    .map((c) => `${c} = excluded.${c}`)
    .join(', ');
  return `ON CONFLICT (${key}) DO UPDATE SET ${set} WHERE ${table}.state = 'open'`;
}

function selectList(cols: Columns): string {
  return ['id', ...Object.entries(cols).map(([k, c]) => `${c} AS ${k}`)].join(', ');
}

/** Named parameters for every column (absent fields bound as NULL). */
function params(cols: Columns, row: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const r = row as Record<string, unknown>;
  for (const k of Object.keys(cols)) {
    const v = r[k];
    out[k] = v === undefined ? null : k === 'extra' && v !== null ? JSON.stringify(v) : v;
  }
  return out;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 100;
  return Math.min(1000, Math.max(1, Math.trunc(limit)));
}

function withoutNulls<T extends object>(row: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (v !== null) out[k] = v;
  return out as T;
}

/** The database as `GET /api/status` shows it; once closed, only `path` and `closed`. */
export interface RecordsDump {
  path: string;
  schemaVersion?: number;
  /** SQLite's `journal_mode` pragma (`wal`). */
  journalMode?: string;
  /** SQLite's `synchronous` pragma (2: FULL). */
  synchronous?: number;
  legCdrs?: number;
  interactionCdrs?: number;
  /** Registration bindings kept for the registrar. */
  bindings?: number;
  closed: boolean;
}

export class Records {
  readonly bindings: BindingStore;
  private readonly stmts;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    const legSelect = `SELECT ${selectList(LEG_COLUMNS)} FROM cdr_legs`;
    const interactionSelect = `SELECT ${selectList(INTERACTION_COLUMNS)} FROM cdr_interactions`;
    this.stmts = {
      // A row written at the answer (open) is completed by the one written at the end; a row
      // already closed or interrupted is never written again.
      insertLeg: db.prepare(
        insertSql('cdr_legs', LEG_COLUMNS, completeOpen('cdr_legs', LEG_COLUMNS, 'leg_id')),
      ),
      insertInteraction: db.prepare(
        insertSql(
          'cdr_interactions',
          INTERACTION_COLUMNS,
          completeOpen('cdr_interactions', INTERACTION_COLUMNS, 'interaction_id'),
        ),
      ),
      beat: db.prepare(
        'INSERT INTO records_clock (id, at) VALUES (1, @at) ON CONFLICT (id) DO UPDATE SET at = excluded.at',
      ),
      lastBeat: db.prepare('SELECT at FROM records_clock WHERE id = 1'),
      interruptLegs: db.prepare(
        `UPDATE cdr_legs SET state = 'interrupted', ended_at = @at,
           duration_ms = MAX(0, CAST(ROUND((julianday(@at) - julianday(started_at)) * 86400000) AS INTEGER)),
           billable_ms = CASE WHEN answered_at IS NULL THEN 0
             ELSE MAX(0, CAST(ROUND((julianday(@at) - julianday(answered_at)) * 86400000) AS INTEGER)) END,
           hangup_cause = 'interrupted', hangup_by = 'system'
         WHERE state = 'open'`,
      ),
      interruptInteractions: db.prepare(
        `UPDATE cdr_interactions SET state = 'interrupted', ended_at = @at,
           duration_ms = MAX(0, CAST(ROUND((julianday(@at) - julianday(started_at)) * 86400000) AS INTEGER)),
           legs = (SELECT COUNT(*) FROM cdr_legs l WHERE l.interaction_id = cdr_interactions.interaction_id)
         WHERE state = 'open'`,
      ),
      // `@states`: a JSON array of the states listed (json_each keeps it one prepared statement).
      legs: db.prepare(
        `${legSelect} WHERE id < @before AND state IN (SELECT value FROM json_each(@states)) ORDER BY id DESC LIMIT @limit`,
      ),
      legsOfInteraction: db.prepare(
        `${legSelect} WHERE interaction_id = @interactionId AND id < @before AND state IN (SELECT value FROM json_each(@states)) ORDER BY id DESC LIMIT @limit`,
      ),
      interactions: db.prepare(
        `${interactionSelect} WHERE id < @before AND state IN (SELECT value FROM json_each(@states)) ORDER BY id DESC LIMIT @limit`,
      ),
      upsertBinding: db.prepare(
        insertSql(
          'registrations',
          BINDING_COLUMNS,
          `ON CONFLICT (aor, contact) DO UPDATE SET ${Object.values(BINDING_COLUMNS)
            .filter((c) => c !== 'aor' && c !== 'contact')
            .map((c) => `${c} = excluded.${c}`)
            .join(', ')}`,
        ),
      ),
      removeBinding: db.prepare('DELETE FROM registrations WHERE aor = ? AND contact = ?'),
      removeAor: db.prepare('DELETE FROM registrations WHERE aor = ?'),
      allBindings: db.prepare(
        `SELECT ${Object.entries(BINDING_COLUMNS)
          .map(([k, c]) => `${c} AS ${k}`)
          .join(', ')} FROM registrations ORDER BY aor, contact`,
      ),
      count: (table: string) => db.prepare(`SELECT COUNT(*) AS n FROM ${table}`),
    };
    const s = this.stmts;
    this.bindings = {
      upsert: (b) => void s.upsertBinding.run(params(BINDING_COLUMNS, b)),
      remove: (aor, contact) => s.removeBinding.run(aor, contact).changes > 0,
      removeAor: (aor) => s.removeAor.run(aor).changes,
      all: () => (s.allBindings.all() as Binding[]).map(withoutNulls),
    };
  }

  /** Open (creating when absent) `<dataDir>/records.sqlite` and bring its schema up to date. */
  static open(dataDir: string): Result<Records, ParseError> {
    const path = join(dataDir, RECORDS_FILE);
    let db: Database.Database;
    try {
      mkdirSync(dataDir, { recursive: true });
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (e) {
      return err({
        code: ErrorCodes.STORE_MIGRATION,
        message: `cannot open ${path}: ${(e as Error).message}`,
      });
    }
    const migrated = migrate(db);
    if (!migrated.ok) {
      db.close();
      return migrated;
    }
    return ok(new Records(db, path));
  }

  /**
   * Store a leg's CDR; on disk when this returns. A row completes the open row of its leg; a leg
   * id already closed is ignored (false).
   */
  insertLegCdr(row: LegCdr): boolean {
    return (
      this.stmts.insertLeg.run(params(LEG_COLUMNS, { ...row, state: row.state ?? 'closed' })).changes > 0
    );
  }

  /** Store an interaction's CDR, as `insertLegCdr`. */
  insertInteractionCdr(row: InteractionCdr): boolean {
    return (
      this.stmts.insertInteraction.run(params(INTERACTION_COLUMNS, { ...row, state: row.state ?? 'closed' }))
        .changes > 0
    );
  }

  /** The records clock: the last time the gateway was known to run with calls up. */
  beat(at: string): void {
    this.stmts.beat.run({ at });
  }

  /**
   * At start-up: every row still open was cut by a crash. Each is closed once, as `interrupted`,
   * at the records clock's last time (or `fallbackAt` when it never ran); returns what it closed.
   */
  closeInterrupted(fallbackAt: string): { interactions: number; legs: number; at: string } {
    return this.db.transaction(() => {
      const beat = this.stmts.lastBeat.get() as { at: string } | undefined;
      const at = beat?.at ?? fallbackAt;
      const legs = this.stmts.interruptLegs.run({ at }).changes;
      const interactions = this.stmts.interruptInteractions.run({ at }).changes;
      return { interactions, legs, at };
    })();
  }

  /** Many rows in one transaction (one fsync): all stored or, on error, none. */
  insertBatch(rows: {
    legs?: readonly LegCdr[];
    interactions?: readonly InteractionCdr[];
    beatAt?: string;
  }): {
    legs: number;
    interactions: number;
  } {
    return this.db.transaction(() => {
      if (rows.beatAt !== undefined) this.beat(rows.beatAt);
      let legs = 0;
      let interactions = 0;
      for (const r of rows.legs ?? []) if (this.insertLegCdr(r)) legs++;
      for (const r of rows.interactions ?? []) if (this.insertInteractionCdr(r)) interactions++;
      return { legs, interactions };
    })();
  }

  /** Leg CDRs, newest first. */
  listCdrs(opts: ListOptions & { interactionId?: string } = {}): StoredLegCdr[] {
    const q = {
      limit: clampLimit(opts.limit),
      before: opts.before ?? Number.MAX_SAFE_INTEGER,
      states: JSON.stringify(opts.states ?? ALL_STATES),
    };
    const rows = (
      opts.interactionId !== undefined
        ? this.stmts.legsOfInteraction.all({ ...q, interactionId: opts.interactionId })
        : this.stmts.legs.all(q)
    ) as Array<StoredLegCdr & { extra: string | null }>;
    return rows.map((r) => {
      const out = withoutNulls(r) as StoredLegCdr;
      if (typeof r.extra === 'string') out.extra = JSON.parse(r.extra) as Record<string, unknown>;
      return out;
    });
  }

  /** Interaction CDRs, newest first. */
  listInteractions(opts: ListOptions = {}): StoredInteractionCdr[] {
    const q = {
      limit: clampLimit(opts.limit),
      before: opts.before ?? Number.MAX_SAFE_INTEGER,
      states: JSON.stringify(opts.states ?? ALL_STATES),
    };
    return (this.stmts.interactions.all(q) as StoredInteractionCdr[]).map(withoutNulls);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  dump(): RecordsDump {
    if (this.closed) return { path: this.path, closed: true };
    const count = (t: string) => (this.stmts.count(t).get() as { n: number }).n;
    return {
      path: this.path,
      schemaVersion: LATEST_VERSION,
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.db.pragma('synchronous', { simple: true }) as number,
      legCdrs: count('cdr_legs'),
      interactionCdrs: count('cdr_interactions'),
      bindings: count('registrations'),
      closed: false,
    };
  }
}
