import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCodes } from '../../src/core/errors.ts';
import { LATEST_VERSION, migrate } from '../../src/store/migrations.ts';
import { Records, type Binding, type LegCdr } from '../../src/store/records.ts';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'edgeline-records-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function open(dir: string): Records {
  const r = Records.open(dir);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

const leg = (legId: string, interactionId: string, extra: Partial<LegCdr> = {}): LegCdr => ({
  legId,
  interactionId,
  direction: 'inbound',
  technology: 'sip',
  peer: '1001',
  startedAt: '2026-01-01T10:00:00.000Z',
  status: 200,
  ...extra,
});

void describe('records database', () => {
  void test('opens in WAL mode with synchronous=FULL', () => {
    withDir((dir) => {
      const rec = open(dir);
      const d = rec.dump();
      assert.equal(d['journalMode'], 'wal');
      assert.equal(d['synchronous'], 2);
      rec.close();
    });
  });

  void test('migrations are applied once: reopening applies none and keeps one row per version', () => {
    withDir((dir) => {
      open(dir).close();
      open(dir).close();
      const db = new Database(join(dir, 'records.sqlite'));
      try {
        const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{
          version: number;
        }>;
        assert.deepEqual(
          rows.map((r) => r.version),
          Array.from({ length: LATEST_VERSION }, (_, i) => i + 1),
        );
        assert.deepEqual(migrate(db), { ok: true, value: [] });
      } finally {
        db.close();
      }
    });
  });

  void test('MUST refuse a database whose schema is newer than the program', () => {
    withDir((dir) => {
      open(dir).close();
      const db = new Database(join(dir, 'records.sqlite'));
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
        LATEST_VERSION + 1,
        'later',
      );
      db.close();
      const r = Records.open(dir);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, ErrorCodes.STORE_MIGRATION);
    });
  });

  void test('a failed migration leaves nothing of itself behind', () => {
    withDir((dir) => {
      const db = new Database(join(dir, 'x.sqlite'));
      try {
        const r = migrate(db, [
          { version: 1, name: 'ok', sql: 'CREATE TABLE a (x)' },
          { version: 2, name: 'broken', sql: 'CREATE TABLE b (x); CREATE TABLE a (y)' },
        ]);
        assert.equal(r.ok, false);
        const tables = (
          db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as Array<{
            name: string;
          }>
        ).map((t) => t.name);
        assert.deepEqual(tables, ['a', 'schema_migrations']);
        assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').all(), [{ version: 1 }]);
      } finally {
        db.close();
      }
    });
  });

  void test('a CDR stored survives close and reopen', () => {
    withDir((dir) => {
      let rec = open(dir);
      assert.equal(
        rec.insertLegCdr(
          leg('leg-1', 'ix-1', { extra: { codec: 'PCMU' }, trunkMember: 'udp:10.0.0.1:5060' }),
        ),
        true,
      );
      assert.equal(
        rec.insertInteractionCdr({
          interactionId: 'ix-1',
          caller: '1001',
          callee: '1002',
          startedAt: '2026-01-01T10:00:00.000Z',
          outcome: 'answered',
          legs: 2,
        }),
        true,
      );
      rec.close();
      rec = open(dir);
      const [row] = rec.listCdrs({ limit: 10 });
      assert.deepEqual(row, {
        id: 1,
        legId: 'leg-1',
        interactionId: 'ix-1',
        direction: 'inbound',
        technology: 'sip',
        peer: '1001',
        startedAt: '2026-01-01T10:00:00.000Z',
        status: 200,
        trunkMember: 'udp:10.0.0.1:5060',
        extra: { codec: 'PCMU' },
        state: 'closed',
      });
      assert.equal(rec.listInteractions()[0]?.outcome, 'answered');
      rec.close();
    });
  });

  void test('a leg id stored twice is kept once (idempotent retries)', () => {
    withDir((dir) => {
      const rec = open(dir);
      assert.equal(rec.insertLegCdr(leg('leg-1', 'ix-1')), true);
      assert.equal(rec.insertLegCdr(leg('leg-1', 'ix-1', { status: 486 })), false);
      assert.equal(rec.listCdrs().length, 1);
      rec.close();
    });
  });

  void test('rows stored open at the answer are completed at the end; a closed row is never reopened', () => {
    withDir((dir) => {
      const rec = open(dir);
      assert.ok(rec.insertLegCdr(leg('leg-1', 'ix-1', { state: 'open', status: null })));
      assert.ok(
        rec.insertInteractionCdr({
          interactionId: 'ix-1',
          startedAt: '2026-01-01T10:00:00.000Z',
          state: 'open',
        }),
      );
      assert.equal(rec.listCdrs()[0]?.state, 'open');
      assert.ok(rec.insertLegCdr(leg('leg-1', 'ix-1', { endedAt: '2026-01-01T10:01:00.000Z', status: 200 })));
      assert.ok(
        rec.insertInteractionCdr({
          interactionId: 'ix-1',
          startedAt: '2026-01-01T10:00:00.000Z',
          outcome: 'answered',
          legs: 1,
        }),
      );
      assert.deepEqual(
        [rec.listCdrs()[0]?.state, rec.listCdrs()[0]?.endedAt, rec.listInteractions()[0]?.state],
        ['closed', '2026-01-01T10:01:00.000Z', 'closed'],
      );
      assert.equal(rec.insertLegCdr(leg('leg-1', 'ix-1', { state: 'open' })), false, 'never reopened');
      assert.equal(rec.listCdrs().length, 1);
      rec.close();
    });
  });

  void test('after a crash, open rows are closed once as interrupted at the records clock’s last time', () => {
    withDir((dir) => {
      let rec = open(dir);
      rec.insertBatch({
        legs: [
          leg('a', 'ix-1', { state: 'open', answeredAt: '2026-01-01T10:00:02.000Z' }),
          leg('b', 'ix-1', { state: 'open', direction: 'outbound', answeredAt: '2026-01-01T10:00:02.000Z' }),
          leg('c', 'ix-2', { endedAt: '2026-01-01T10:00:05.000Z' }),
        ],
        interactions: [
          { interactionId: 'ix-1', startedAt: '2026-01-01T10:00:00.000Z', state: 'open' },
          { interactionId: 'ix-2', startedAt: '2026-01-01T10:00:00.000Z', outcome: 'answered' },
        ],
        beatAt: '2026-01-01T10:00:30.000Z',
      });
      rec.close();
      // The process was killed: the next start closes what was open.
      rec = open(dir);
      assert.deepEqual(rec.closeInterrupted('2026-01-01T11:00:00.000Z'), {
        interactions: 1,
        legs: 2,
        at: '2026-01-01T10:00:30.000Z',
      });
      const a = rec.listCdrs({ interactionId: 'ix-1' }).find((r) => r.legId === 'a');
      assert.deepEqual(
        [a?.state, a?.endedAt, a?.durationMs, a?.billableMs, a?.hangupCause],
        ['interrupted', '2026-01-01T10:00:30.000Z', 30_000, 28_000, 'interrupted'],
      );
      const ix = rec.listInteractions().find((r) => r.interactionId === 'ix-1');
      assert.deepEqual([ix?.state, ix?.durationMs, ix?.legs], ['interrupted', 30_000, 2]);
      assert.equal(rec.listCdrs({ interactionId: 'ix-2' })[0]?.state, 'closed', 'a closed row is untouched');
      // Exactly once: the next start finds nothing open.
      assert.deepEqual(rec.closeInterrupted('2026-01-01T12:00:00.000Z'), {
        interactions: 0,
        legs: 0,
        at: '2026-01-01T10:00:30.000Z',
      });
      // A late end of an interrupted row changes nothing either.
      assert.equal(rec.insertLegCdr(leg('a', 'ix-1', { endedAt: '2026-01-01T10:05:00.000Z' })), false);
      rec.close();
    });
  });

  void test('lists newest first, pages with before, filters by interaction; a batch is one transaction', () => {
    withDir((dir) => {
      const rec = open(dir);
      const stored = rec.insertBatch({
        legs: [leg('a', 'ix-1'), leg('b', 'ix-2'), leg('c', 'ix-1'), leg('d', 'ix-3')],
      });
      assert.deepEqual(stored, { legs: 4, interactions: 0 });
      assert.deepEqual(
        rec.listCdrs({ limit: 2 }).map((r) => r.legId),
        ['d', 'c'],
      );
      assert.deepEqual(
        rec.listCdrs({ limit: 2, before: 3 }).map((r) => r.legId),
        ['b', 'a'],
      );
      assert.deepEqual(
        rec.listCdrs({ interactionId: 'ix-1' }).map((r) => r.legId),
        ['c', 'a'],
      );
      assert.throws(() =>
        rec.insertBatch({
          legs: [leg('e', 'ix-4'), { ...leg('f', 'ix-4'), direction: 'sideways' as 'inbound' }],
        }),
      );
      assert.equal(rec.listCdrs().length, 4, 'the failed batch stored nothing');
      rec.close();
    });
  });
});

void describe('registration bindings', () => {
  const binding = (contact: string, extra: Partial<Binding> = {}): Binding => ({
    aor: 'sip:1001@edgeline.local',
    contact,
    expiresAtMs: 1_767_225_600_000,
    callId: 'c1',
    cseq: 1,
    source: 'udp:192.0.2.10:5060',
    ...extra,
  });

  void test('upsert adds and then updates the binding of one (aor, contact)', () => {
    withDir((dir) => {
      let rec = open(dir);
      rec.bindings.upsert(binding('sip:1001@192.0.2.10:5060', { userAgent: 'baresip', q: 0.5 }));
      rec.bindings.upsert(binding('sip:1001@192.0.2.10:5060', { cseq: 2, expiresAtMs: 1_767_225_700_000 }));
      rec.bindings.upsert(binding('sip:1001@192.0.2.11:5060', { instance: '<urn:uuid:1>' }));
      rec.close();
      rec = open(dir);
      assert.deepEqual(rec.bindings.all(), [
        binding('sip:1001@192.0.2.10:5060', { cseq: 2, expiresAtMs: 1_767_225_700_000 }),
        binding('sip:1001@192.0.2.11:5060', { instance: '<urn:uuid:1>' }),
      ]);
      rec.close();
    });
  });

  void test('remove drops one contact; removeAor drops them all', () => {
    withDir((dir) => {
      const rec = open(dir);
      rec.bindings.upsert(binding('sip:a@x'));
      rec.bindings.upsert(binding('sip:b@x'));
      rec.bindings.upsert(binding('sip:c@x', { aor: 'sip:1002@edgeline.local' }));
      assert.equal(rec.bindings.remove('sip:1001@edgeline.local', 'sip:a@x'), true);
      assert.equal(rec.bindings.remove('sip:1001@edgeline.local', 'sip:a@x'), false);
      assert.deepEqual(
        rec.bindings.all().map((b) => b.contact),
        ['sip:b@x', 'sip:c@x'],
      );
      assert.equal(rec.bindings.removeAor('sip:1001@edgeline.local'), 1);
      assert.deepEqual(
        rec.bindings.all().map((b) => b.contact),
        ['sip:c@x'],
      );
      rec.close();
    });
  });
});
