/**
 * Numbered schema migrations of the records database. A migration is applied once, inside a
 * transaction together with its row in `schema_migrations`, so a crash leaves the database either
 * before or after it. Migrations are append-only: a released one is never edited, a change is a
 * new number. A database whose schema is newer than this program (after a rollback to the other
 * firmware slot) is refused rather than written with a schema the program does not know.
 */
import type Database from 'better-sqlite3';
import { ErrorCodes } from '../core/errors.ts';
import { err, ok, type ParseError, type Result } from '../../../base/result.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'cdrs and registrations',
    sql: `
      CREATE TABLE cdr_legs (
        id INTEGER PRIMARY KEY,
        leg_id TEXT NOT NULL UNIQUE,
        interaction_id TEXT NOT NULL,
        call_id TEXT,
        direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        technology TEXT NOT NULL CHECK (technology IN ('sip', 'pstn')),
        peer TEXT,
        from_uri TEXT,
        to_uri TEXT,
        caller_id TEXT,
        started_at TEXT NOT NULL,
        answered_at TEXT,
        ended_at TEXT,
        duration_ms INTEGER,
        billable_ms INTEGER,
        status INTEGER,
        hangup_cause TEXT,
        hangup_by TEXT,
        trunk_member TEXT,
        extra JSON
      );
      CREATE INDEX cdr_legs_interaction ON cdr_legs (interaction_id);
      CREATE TABLE cdr_interactions (
        id INTEGER PRIMARY KEY,
        interaction_id TEXT NOT NULL UNIQUE,
        caller TEXT,
        callee TEXT,
        dialled TEXT,
        route TEXT,
        started_at TEXT NOT NULL,
        answered_at TEXT,
        ended_at TEXT,
        duration_ms INTEGER,
        outcome TEXT CHECK (outcome IN ('answered', 'busy', 'no-answer', 'failed', 'cancelled')),
        status INTEGER,
        legs INTEGER
      );
      CREATE TABLE registrations (
        aor TEXT NOT NULL,
        contact TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        cseq INTEGER NOT NULL,
        source TEXT NOT NULL,
        user_agent TEXT,
        instance TEXT,
        q REAL,
        PRIMARY KEY (aor, contact)
      );
    `,
  },
  {
    version: 2,
    name: 'open records and the records clock',
    // A call's rows are written when it is answered (state 'open') and completed when it ends;
    // rows still open at start-up were cut by a crash and are closed as 'interrupted' at the
    // last time the records clock knew.
    sql: `
      ALTER TABLE cdr_legs ADD COLUMN state TEXT NOT NULL DEFAULT 'closed'
        CHECK (state IN ('open', 'closed', 'interrupted'));
      ALTER TABLE cdr_interactions ADD COLUMN state TEXT NOT NULL DEFAULT 'closed'
        CHECK (state IN ('open', 'closed', 'interrupted'));
      CREATE INDEX cdr_legs_open ON cdr_legs (state) WHERE state = 'open';
      CREATE INDEX cdr_interactions_open ON cdr_interactions (state) WHERE state = 'open';
      CREATE TABLE records_clock (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS.reduce((m, x) => Math.max(m, x.version), 0);

/** Bring the database to LATEST_VERSION; returns the versions applied now (empty when current). */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): Result<number[], ParseError> {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  const have = row.v ?? 0;
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  if (have > latest) {
    return err({
      code: ErrorCodes.STORE_MIGRATION,
      message: `records database is at schema version ${have}, newer than this program knows (${latest})`,
    });
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= have) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        record.run(m.version, new Date().toISOString());
      })();
    } catch (e) {
      return err({
        code: ErrorCodes.STORE_MIGRATION,
        message: `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`,
      });
    }
    applied.push(m.version);
  }
  return ok(applied);
}
