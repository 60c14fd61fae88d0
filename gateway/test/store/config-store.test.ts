import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../base/clock.ts';
import { ErrorCodes } from '../../src/core/errors.ts';
import { ConfigStore, loadConfig } from '../../src/store/config-store.ts';
import { validateConfig } from '../../src/store/config-validate.ts';
import { demoConfig, seedDemoIfFirstStart } from '../../src/store/demo-config.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'edgeline-config-'));
}

async function openStore(dir: string): Promise<ConfigStore> {
  const r = await ConfigStore.open(dir, { clock: new ManualClock() });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

const member = (port = 5080, host = '127.0.0.1') => ({ host, port });
const trunk = (id = 'cloud', extra: Record<string, unknown> = {}) => ({ id, members: [member()], ...extra });
const ext = (number: string) => ({ number, password: `pw${number}` });

const goodDoc = {
  system: { name: 'branch-7', domain: 'pbx.branch7.example' },
  extensions: [ext('1001'), ext('1002')],
  trunks: [
    {
      id: 'cloud',
      name: 'Cloud core',
      members: [member(5080), { host: '10.0.0.2', port: 5061, transport: 'tls', weight: 2 }],
      credentials: { username: 'branch7', password: 's3cret' },
      register: { enabled: true },
    },
  ],
  routes: {
    outbound: [{ id: 'to-cloud', pattern: '9.', strip: 1, trunks: ['cloud'] }],
    inbound: [
      { id: 'did-main', trunk: 'cloud', did: '5551000', destination: { type: 'extension', target: '1001' } },
      { id: 'did-echo', did: '555104X', destination: { type: 'service', target: '*43' } },
    ],
  },
  services: [{ number: '*43', type: 'echo' }],
};

/** Each bad document and the JSON pointer of the value that must be named. */
const badDocs: Array<{ rule: string; doc: unknown; field: string; message?: string }> = [
  {
    rule: 'a member port above 65535 is refused at its path',
    doc: { trunks: [{ id: 'cloud', members: [member(5080), member(70000)] }] },
    field: '/trunks/0/members/1/port',
    message: 'config.json: /trunks/0/members/1/port must be <= 65535',
  },
  ...[486, 600, 603, 404].map((status) => ({
    rule: `failover on ${status} (a final answer of the callee) is refused`,
    doc: { trunks: [trunk('cloud', { failover: { onStatus: [503, status] } })] },
    field: '/trunks/0/failover/onStatus/1',
  })),
  {
    rule: 'an unknown key (typo) is refused',
    doc: { sip: { registerMinExpire: 30 } },
    field: '/sip/registerMinExpire',
  },
  { rule: 'an unknown top-level key is refused', doc: { extension: [] }, field: '/extension' },
  {
    rule: 'an extension number must be digits',
    doc: { extensions: [ext('10a1')] },
    field: '/extensions/0/number',
  },
  {
    rule: 'an extension needs a password',
    doc: { extensions: [{ number: '1001' }] },
    field: '/extensions/0/password',
  },
  {
    rule: 'a permission must be one of the classes',
    doc: { extensions: [{ ...ext('1001'), permission: 'world' }] },
    field: '/extensions/0/permission',
  },
  {
    rule: 'extension numbers are unique',
    doc: { extensions: [ext('1001'), ext('1001')] },
    field: '/extensions/1/number',
  },
  {
    rule: 'trunk ids are unique',
    doc: { trunks: [trunk('a'), trunk('b'), trunk('a')] },
    field: '/trunks/2/id',
  },
  {
    rule: 'a trunk id is lowercase letters, digits and dashes',
    doc: { trunks: [trunk('Cloud!')] },
    field: '/trunks/0/id',
  },
  {
    rule: 'a trunk has at least one member',
    doc: { trunks: [{ id: 'cloud', members: [] }] },
    field: '/trunks/0/members',
  },
  {
    rule: 'a transport is udp, tcp or tls',
    doc: { trunks: [{ id: 'cloud', members: [{ host: 'x', transport: 'sctp' }] }] },
    field: '/trunks/0/members/0/transport',
  },
  {
    rule: 'an outbound route names existing trunks',
    doc: {
      trunks: [trunk('cloud')],
      routes: { outbound: [{ id: 'r', pattern: '9.', trunks: ['cloud', 'nope'] }] },
    },
    field: '/routes/outbound/0/trunks/1',
  },
  {
    rule: 'an outbound pattern must compile',
    doc: {
      trunks: [trunk('cloud')],
      routes: { outbound: [{ id: 'r', pattern: '9[1-', trunks: ['cloud'] }] },
    },
    field: '/routes/outbound/0/pattern',
  },
  {
    rule: 'a regex pattern must compile',
    doc: { trunks: [trunk('cloud')], routes: { outbound: [{ id: 'r', pattern: '^(9', trunks: ['cloud'] }] } },
    field: '/routes/outbound/0/pattern',
  },
  {
    rule: 'an inbound destination extension must exist',
    doc: {
      routes: { inbound: [{ id: 'd', did: '100', destination: { type: 'extension', target: '1009' } }] },
    },
    field: '/routes/inbound/0/destination/target',
  },
  {
    rule: 'an inbound route trunk must exist',
    doc: {
      extensions: [ext('1001')],
      routes: {
        inbound: [
          { id: 'd', trunk: 'ghost', did: '100', destination: { type: 'extension', target: '1001' } },
        ],
      },
    },
    field: '/routes/inbound/0/trunk',
  },
  {
    rule: 'a DID is routed once per trunk',
    doc: {
      extensions: [ext('1001')],
      routes: {
        inbound: [
          { id: 'a', did: '5551000', destination: { type: 'extension', target: '1001' } },
          { id: 'b', did: '5551000', destination: { type: 'extension', target: '1001' } },
        ],
      },
    },
    field: '/routes/inbound/1/did',
  },
  {
    rule: 'a destination type is one the routing knows',
    doc: { routes: { inbound: [{ id: 'd', did: '1', destination: { type: 'voicemail', target: 'q' } }] } },
    field: '/routes/inbound/0/destination/type',
  },
  {
    rule: 'a PSTN line names a port its card has',
    doc: {
      pstn: { cards: [{ id: 'sim0', fxo: 4 }], lines: [{ id: 'fxo5', card: 'sim0', port: 5 }] },
    },
    field: '/pstn/lines/0/port',
  },
  {
    rule: 'a PSTN line names an existing card',
    doc: { pstn: { lines: [{ id: 'fxo1', card: 'sim9', port: 1 }] } },
    field: '/pstn/lines/0/card',
  },
  {
    rule: 'an E1 span leaves out timeslot 16 (signalling)',
    doc: {
      pstn: { cards: [{ id: 'sim0' }], spans: [{ id: 'e1-1', card: 'sim0', span: 1, channels: '1-31' }] },
    },
    field: '/pstn/spans/0/channels',
  },
  {
    rule: 'a port group names existing lines',
    doc: {
      pstn: {
        cards: [{ id: 'sim0' }],
        lines: [{ id: 'fxo1', card: 'sim0', port: 1 }],
        groups: [{ id: 'out', members: ['fxo1', 'fxo9'] }],
      },
    },
    field: '/pstn/groups/0/members/1',
  },
  {
    rule: 'an outbound route names existing port groups',
    doc: { routes: { outbound: [{ id: 'r', pattern: '9.', targets: [{ type: 'group', id: 'ghost' }] }] } },
    field: '/routes/outbound/0/targets/0/id',
  },
  {
    rule: 'an outbound route has at least one target',
    doc: { routes: { outbound: [{ id: 'r', pattern: '9.' }] } },
    field: '/routes/outbound/0/targets',
  },
  {
    rule: 'a caller ID policy is extension, passthrough, anonymous or fixed:<number>',
    doc: {
      trunks: [trunk('cloud')],
      routes: { outbound: [{ id: 'r', pattern: '9.', trunks: ['cloud'], callerIdPolicy: 'fixed:abc' }] },
    },
    field: '/routes/outbound/0/callerIdPolicy',
  },
  {
    rule: 'an inbound route names an existing ring group',
    doc: { routes: { inbound: [{ id: 'd', destination: { type: 'ring-group', target: 'sales' } }] } },
    field: '/routes/inbound/0/destination/target',
  },
  {
    rule: 'a time condition reads hours in a known time zone',
    doc: { timeConditions: [{ id: 'office', timeZone: 'Mars/Olympus' }] },
    field: '/timeConditions/0/timeZone',
  },
  {
    rule: 'a time condition nested inside itself is a loop',
    doc: {
      extensions: [ext('1001')],
      timeConditions: [{ id: 'office', timeZone: 'Asia/Shanghai' }],
      routes: {
        inbound: [
          {
            id: 'd',
            destination: {
              type: 'time-condition',
              target: 'office',
              whenOpen: { type: 'extension', target: '1001' },
              whenClosed: {
                type: 'time-condition',
                target: 'office',
                whenOpen: { type: 'extension', target: '1001' },
                whenClosed: { type: 'extension', target: '1001' },
              },
            },
          },
        ],
      },
    },
    field: '/routes/inbound/0/destination/whenClosed/target',
  },
  {
    rule: 'a trunk call routed back to the same trunk is a loop',
    doc: {
      trunks: [trunk('cloud')],
      routes: {
        inbound: [{ id: 'd', trunk: 'cloud', did: '555.', destination: { type: 'trunk', target: 'cloud' } }],
      },
    },
    field: '/routes/inbound/0/destination/target',
  },
  {
    rule: 'registerDefaultExpiresS lies between min and max',
    doc: { sip: { registerMinExpiresS: 60, registerMaxExpiresS: 600, registerDefaultExpiresS: 3600 } },
    field: '/sip/registerDefaultExpiresS',
  },
  { rule: 'RFC 4028: Min-SE is at least 90 s', doc: { sip: { minSeS: 30 } }, field: '/sip/minSeS' },
  { rule: 'the document is an object', doc: [], field: '' },
];

void describe('configuration schema', () => {
  for (const c of badDocs) {
    void test(`MUST refuse: ${c.rule} (${c.field || '/'})`, async () => {
      const dir = tempDir();
      try {
        writeFileSync(join(dir, 'config.json'), JSON.stringify(c.doc));
        const r = await loadConfig(dir);
        assert.equal(r.ok, false);
        if (r.ok) return;
        assert.equal(r.error.code, ErrorCodes.CONFIG_INVALID);
        assert.equal(r.error.field, c.field, r.error.message);
        assert.ok(r.error.message.startsWith(`config.json: ${c.field || '/'} `), r.error.message);
        if (c.message) assert.equal(r.error.message, c.message);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  void test('MUST refuse a file that is not JSON, naming the file', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), '{ "extensions": [ ');
      const r = await loadConfig(dir);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error.message, /^config\.json: is not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('reports every problem, not only the first', () => {
    const r = validateConfig({
      extensions: [{ number: 'x', password: '' }],
      trunks: [{ id: 'a', members: [member(0)] }],
    });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.error.problems.map((p) => p.field).sort(), [
      '/extensions/0/number',
      '/extensions/0/password',
      '/trunks/0/members/0/port',
    ]);
  });

  void test('accepts a good document and fills in the defaults', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(goodDoc));
      const r = await loadConfig(dir);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      const c = r.value;
      assert.equal(c.system.domain, 'pbx.branch7.example');
      assert.equal(c.system.country, 'CN');
      assert.equal(c.sip.registerMaxExpiresS, 3600);
      assert.deepEqual(c.sip.digestAlgorithms, ['SHA-256', 'MD5']);
      assert.equal(c.extensions[0]?.permission, 'international');
      assert.equal(c.extensions[0]?.enabled, true);
      const t = c.trunks[0];
      assert.deepEqual(t?.members[0], { host: '127.0.0.1', port: 5080, transport: 'udp', weight: 1 });
      assert.deepEqual(t?.failover, { inviteTimeoutMs: 4000, onStatus: [408, 480, 500, 502, 503, 504] });
      assert.deepEqual(t?.probe, {
        enabled: true,
        intervalMs: 5000,
        timeoutMs: 2000,
        downAfter: 3,
        upAfter: 2,
      });
      assert.deepEqual(t?.register, { enabled: true, expiresS: 3600, retryMinS: 5, retryMaxS: 300 });
      assert.deepEqual(t?.identity, { trusted: false, acceptPai: false, sendPai: true });
      assert.deepEqual(t?.inbound, { acceptFromMembersOnly: true });
      assert.equal(c.routes.outbound[0]?.permission, 'national');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('a missing config.json is the empty default: nothing known to anyone', async () => {
    const dir = tempDir();
    try {
      const r = await loadConfig(dir);
      assert.ok(r.ok);
      assert.deepEqual(r.value.extensions, []);
      assert.deepEqual(r.value.trunks, []);
      assert.deepEqual(r.value.routes, { outbound: [], inbound: [] });
      assert.equal(existsSync(join(dir, 'config.json')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('configuration store', () => {
  void test('each accepted change is a numbered revision file; revision 1 is the first save', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    try {
      assert.equal(store.currentRevision(), 0);
      assert.deepEqual(store.revisions(), []);
      const r1 = await store.apply(goodDoc, { author: 'alice', comment: 'first' });
      assert.deepEqual(r1, { ok: true, value: { revision: 1, changed: true } });
      const r2 = await store.apply({ ...goodDoc, extensions: [ext('1001')] }, { author: 'bob' });
      assert.deepEqual(r2, { ok: true, value: { revision: 2, changed: true } });
      assert.deepEqual(readdirSync(join(dir, 'config-revisions')).sort(), ['000001.json', '000002.json']);
      const info = store.revisions();
      assert.deepEqual(
        info.map(({ revision, author, comment }) => ({ revision, author, comment })),
        [
          { revision: 1, author: 'alice', comment: 'first' },
          { revision: 2, author: 'bob', comment: undefined },
        ],
      );
      assert.equal(info[0]?.at, '2026-01-01T00:00:00.000Z');
      const onDisk = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { extensions: unknown[] };
      assert.equal(onDisk.extensions.length, 1);
      assert.equal(store.get().extensions.length, 1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('an unchanged document records no revision', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    try {
      await store.apply(goodDoc, { author: 'a' });
      const again = await store.apply(goodDoc, { author: 'a' });
      assert.deepEqual(again, { ok: true, value: { revision: 1, changed: false } });
      assert.equal(store.revisions().length, 1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('a refused change writes nothing: config.json bytes and revisions unchanged', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    try {
      await store.apply(goodDoc, { author: 'a' });
      const before = readFileSync(join(dir, 'config.json'));
      const bad = { ...goodDoc, trunks: [{ ...goodDoc.trunks[0], members: [member(65536)] }] };
      const r = await store.apply(bad, { author: 'a' });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.field, '/trunks/0/members/0/port');
      assert.deepEqual(readFileSync(join(dir, 'config.json')), before);
      assert.deepEqual(readdirSync(join(dir, 'config-revisions')), ['000001.json']);
      assert.equal(store.currentRevision(), 1);
      assert.equal(store.get().trunks[0]?.members.length, 2);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('diff lists the changed values by JSON pointer', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    try {
      await store.apply(goodDoc, { author: 'a' });
      const next = structuredClone(goodDoc) as typeof goodDoc & {
        extensions: Array<Record<string, unknown>>;
      };
      next.system.name = 'branch-8';
      next.extensions.push(ext('1003'));
      delete (next.trunks[0] as { name?: string }).name;
      await store.apply(next, { author: 'a' });
      const d = store.diff(1, 2);
      assert.ok(d.ok);
      assert.deepEqual(
        d.value.map((c) => [c.op, c.path]),
        [
          ['replace', '/system/name'],
          ['add', '/extensions/2'],
          ['remove', '/trunks/0/name'],
        ],
      );
      assert.deepEqual(d.value[0], { path: '/system/name', op: 'replace', from: 'branch-7', to: 'branch-8' });
      const unknown = store.diff(1, 9);
      assert.equal(unknown.ok, false);
      if (!unknown.ok) assert.equal(unknown.error.code, ErrorCodes.CONFIG_REVISION_UNKNOWN);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('restore makes a new revision equal to the restored one', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    try {
      await store.apply(goodDoc, { author: 'a' });
      await store.apply(
        { ...goodDoc, extensions: [], routes: { outbound: goodDoc.routes.outbound, inbound: [] } },
        { author: 'a' },
      );
      const r = await store.restore(1, { author: 'ops' });
      assert.deepEqual(r, { ok: true, value: { revision: 3, changed: true } });
      assert.deepEqual(store.revision(3)?.config, store.revision(1)?.config);
      assert.equal(store.revision(3)?.comment, 'restore of revision 1');
      assert.deepEqual(store.get(), store.revision(1)?.config);
      const d = store.diff(1, 3);
      assert.ok(d.ok);
      assert.deepEqual(d.value, []);
      const missing = await store.restore(42, { author: 'ops' });
      assert.equal(missing.ok, false);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('revisions survive a reopen; get() is frozen; listeners hear accepted changes only', async () => {
    const dir = tempDir();
    let store = await openStore(dir);
    const heard: number[] = [];
    const stop = store.onChange((_c, rev) => heard.push(rev));
    await store.apply(goodDoc, { author: 'a' });
    await store.apply({ trunks: 'no' }, { author: 'a' });
    stop();
    await store.apply({}, { author: 'a' });
    assert.deepEqual(heard, [1]);
    assert.throws(() => {
      (store.get().extensions as unknown as unknown[]).push(ext('1'));
    }, TypeError);
    await store.close();
    store = await openStore(dir);
    try {
      assert.equal(store.currentRevision(), 2);
      assert.equal(store.firstStart, false);
      assert.deepEqual(store.get().extensions, []);
      assert.equal(store.revision(1)?.config.extensions.length, 2);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('a config.json changed outside the API is recorded as a revision on open', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(goodDoc));
      let store = await openStore(dir);
      assert.deepEqual(
        store.revisions().map((r) => [r.revision, r.author, r.comment]),
        [[1, 'config.json', 'initial file']],
      );
      await store.close();
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...goodDoc, system: { name: 'edited' } }));
      store = await openStore(dir);
      assert.deepEqual(
        store.revisions().map((r) => [r.revision, r.comment]),
        [
          [1, 'initial file'],
          [2, 'changed outside the API'],
        ],
      );
      await store.close();
      store = await openStore(dir);
      assert.equal(store.revisions().length, 2, 'an unchanged file adds nothing');
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('open refuses a bad config.json with the path of the bad value', async () => {
    const dir = tempDir();
    try {
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ trunks: [trunk('x', { members: [member(0)] })] }),
      );
      const r = await ConfigStore.open(dir);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.message, 'config.json: /trunks/0/members/0/port must be >= 1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('demo configuration', () => {
  void test('demoConfig: extensions 1001-1008 with passwords demo1001-demo1008, *43 echo, *44 milliwatt, no trunks', () => {
    const c = demoConfig();
    assert.deepEqual(
      c.extensions.map((e) => [e.number, e.password]),
      Array.from({ length: 8 }, (_, i) => [String(1001 + i), `demo${1001 + i}`]),
    );
    assert.deepEqual(c.services.slice(0, 2), [
      { number: '*43', type: 'echo' },
      { number: '*44', type: 'milliwatt' },
    ]);
    // The conference room and the three monitor codes, with 1008 as the supervisor.
    for (const s of [
      { number: '*50', type: 'conference', maxParties: 8 },
      { number: '*45', type: 'monitor', mode: 'listen' },
      { number: '*46', type: 'monitor', mode: 'whisper' },
      { number: '*47', type: 'monitor', mode: 'barge' },
    ])
      assert.ok(
        c.services.some((x) => JSON.stringify(x) === JSON.stringify(s)),
        s.number,
      );
    assert.deepEqual(
      c.extensions.filter((e) => e.monitor).map((e) => e.number),
      ['1008'],
    );
    assert.equal(c.system.domain, 'edgeline.local');
    assert.deepEqual(c.trunks, []);
  });

  void test('is seeded on first start only', async () => {
    const dir = tempDir();
    try {
      let store = await openStore(dir);
      assert.equal(store.firstStart, true);
      assert.deepEqual(await seedDemoIfFirstStart(store), { ok: true, value: true });
      assert.equal(store.currentRevision(), 1);
      assert.equal(store.get().extensions.length, 8);
      // The technician empties the configuration; a restart must not bring the demo back.
      await store.apply({}, { author: 'tech' });
      await store.close();
      store = await openStore(dir);
      assert.equal(store.firstStart, false);
      assert.deepEqual(await seedDemoIfFirstStart(store), { ok: true, value: false });
      assert.deepEqual(store.get().extensions, []);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('is not seeded over an existing config.json, even an empty one', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), '{}');
      const store = await openStore(dir);
      assert.deepEqual(await seedDemoIfFirstStart(store), { ok: true, value: false });
      assert.deepEqual(store.get().extensions, []);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
