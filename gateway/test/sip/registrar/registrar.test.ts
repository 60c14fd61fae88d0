import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import { MetricsRegistry } from '../../../src/core/metrics.ts';
import { DigestAuthenticator, computeDigestAuthorization } from '../../../src/sip/auth/digest.ts';
import { parseAuthHeader, parseMessage } from '../../../src/sip/message/index.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../../../src/sip/message/types.ts';
import { Registrar, type Binding, type BindingStore } from '../../../src/sip/registrar/registrar.ts';

/** The store layer's contract, in memory. */
class MemoryStore implements BindingStore {
  readonly rows = new Map<string, Binding>();
  all(): Binding[] {
    return [...this.rows.values()].map((b) => structuredClone(b));
  }
  upsert(b: Binding): void {
    this.rows.set(`${b.aor} ${b.contact}`, structuredClone(b));
  }
  remove(aor: string, contact: string): void {
    this.rows.delete(`${aor} ${contact}`);
  }
}

const DOMAIN = 'pbx.example';
const users: Record<string, { password: string }> = {
  '1001': { password: 'pw1001' },
  '1002': { password: 'pw1002' },
};
const secret = Buffer.alloc(32, 1);

function setup(over: Partial<{ maxContacts: number; store: MemoryStore; clock: ManualClock }> = {}) {
  const clock = over.clock ?? new ManualClock();
  const store = over.store ?? new MemoryStore();
  const auth = new DigestAuthenticator({
    realm: DOMAIN,
    algorithms: ['SHA-256', 'MD5'],
    nonceTtlMs: 300_000,
    clock,
    secret,
  });
  const metrics = new MetricsRegistry();
  const registrar = new Registrar({
    domain: DOMAIN,
    clock,
    timers: clock,
    auth,
    lookupUser: (u) => users[u],
    store,
    minExpiresS: 60,
    maxExpiresS: 7200,
    defaultExpiresS: 3600,
    maxContacts: over.maxContacts ?? 5,
    metrics,
  });
  const changes: string[] = [];
  registrar.onBindingsChanged = (aor) => changes.push(aor);
  return { clock, store, auth, registrar, changes, metrics };
}

const phoneSource: SipEndpoint = { transport: 'udp', address: '203.0.113.7', port: 40312 };

interface RegisterOpts {
  contacts?: string[];
  expires?: number | string;
  extra?: string[];
  /** Headers added to the parsed request, for combinations the parser already refuses. */
  afterParse?: [string, string][];
}

/** A phone as seen by the registrar: one Call-ID, CSeq counting up, nonce reused with nc counting up. */
class Phone {
  cseq = 0;
  private challenge: string | undefined;
  private nc = 0;
  constructor(
    readonly registrar: Registrar,
    readonly user = '1001',
    readonly password = users[user]?.password ?? 'x',
    readonly callId = `call-${user}@192.168.1.10`,
    readonly toUser = user,
  ) {}

  build(o: RegisterOpts, authorization?: string): SipRequest {
    this.cseq++;
    const lines = [
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP 192.168.1.10:5062;branch=z9hG4bK-${this.callId.replace(/[^A-Za-z0-9]/g, '')}-${this.cseq};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.user}@${DOMAIN}>;tag=ft${this.user}`,
      `To: <sip:${this.toUser}@${DOMAIN}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${this.cseq} REGISTER`,
      ...(o.contacts ?? [`<sip:${this.user}@192.168.1.10:5062>`]).map((c) => `Contact: ${c}`),
      ...(o.expires === undefined ? [] : [`Expires: ${o.expires}`]),
      'User-Agent: TestPhone/1.0',
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      ...(o.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ];
    const parsed = parseMessage(Buffer.from(lines.join('\r\n')));
    assert.ok(parsed.ok && parsed.value.kind === 'request', 'fixture parses');
    for (const [n, v] of o.afterParse ?? []) parsed.value.headers.append(n, v);
    return parsed.value;
  }

  private credentials(): string | undefined {
    if (!this.challenge) return undefined;
    const r = computeDigestAuthorization({
      challenge: this.challenge,
      method: 'REGISTER',
      uri: `sip:${DOMAIN}`,
      username: this.user,
      password: this.password,
      nc: ++this.nc,
    });
    assert.ok(r.ok);
    return r.value;
  }

  /** Send once, as is (with credentials if a challenge is known). */
  send(o: RegisterOpts = {}, source = phoneSource): SipResponse {
    return this.registrar.handleRegister(this.build(o, this.credentials()), source);
  }

  /** Send, and on 401 answer the challenge once, as a UA does. */
  register(o: RegisterOpts = {}, source = phoneSource): SipResponse {
    const first = this.send(o, source);
    if (first.status !== 401) return first;
    this.challenge = first.headers.getLines('www-authenticate')[0];
    this.nc = 0;
    return this.send(o, source);
  }
}

function contactsOf(res: SipResponse): Array<{ uri: string; expires: string | undefined }> {
  return res.headers.getList('contact').map((c) => {
    const m = /^<([^>]*)>(.*)$/.exec(c);
    assert.ok(m, c);
    return { uri: m[1] ?? '', expires: /;expires=(\d+)/.exec(m[2] ?? '')?.[1] };
  });
}

void describe('Registrar: authentication (RFC 3261 §10.3 steps 3-4, §22)', () => {
  void test('MUST challenge an unauthenticated REGISTER with 401 and one WWW-Authenticate per algorithm, then accept the answer', () => {
    const { registrar, store, changes } = setup();
    const phone = new Phone(registrar);
    const challenge = phone.send({ expires: 3600 });
    assert.equal(challenge.status, 401);
    const offered = challenge.headers.getLines('www-authenticate').map((v) => {
      const p = parseAuthHeader(v);
      assert.ok(p.ok);
      return p.value.params.get('algorithm');
    });
    assert.deepEqual(offered, ['SHA-256', 'MD5']);
    assert.equal(store.rows.size, 0, 'nothing is stored before authentication');

    const res = phone.register({ expires: 3600 });
    assert.equal(res.status, 200);
    assert.deepEqual(contactsOf(res), [{ uri: 'sip:1001@192.168.1.10:5062', expires: '3600' }]);
    assert.equal(res.headers.get('date'), 'Thu, 01 Jan 2026 00:00:00 GMT');
    assert.equal(store.rows.size, 1);
    assert.deepEqual(changes, ['sip:1001@pbx.example']);
  });

  void test('a wrong password and an unknown user get the same 401 (no user enumeration)', () => {
    const { registrar, store } = setup();
    const wrong = new Phone(registrar, '1001', 'not-the-password').register({ expires: 3600 });
    const unknown = new Phone(registrar, '4242', 'whatever').register({ expires: 3600 });
    for (const res of [wrong, unknown]) {
      assert.equal(res.status, 401);
      assert.equal(res.reason, 'Unauthorized');
      const ch = res.headers.getLines('www-authenticate');
      assert.equal(ch.length, 2);
      assert.doesNotMatch(ch.join(), /stale/);
    }
    assert.deepEqual(
      [...wrong.headers.entries()].map(([n]) => n),
      [...unknown.headers.entries()].map(([n]) => n),
    );
    assert.equal(store.rows.size, 0);
  });

  void test('RFC 2617 §3.2.1: a correct answer to an expired nonce gets 401 with stale=true', () => {
    const { registrar, clock } = setup();
    const phone = new Phone(registrar);
    assert.equal(phone.register({ expires: 3600 }).status, 200);
    clock.advance(300_001);
    const res = phone.send({ expires: 3600 });
    assert.equal(res.status, 401);
    const p = parseAuthHeader(res.headers.getLines('www-authenticate')[0] ?? '');
    assert.ok(p.ok);
    assert.equal(p.value.params.get('stale'), 'true');
  });

  void test('the same credentials sent twice are a replay and are challenged again', () => {
    const { registrar } = setup();
    const phone = new Phone(registrar);
    phone.register({ expires: 3600 });
    const creds = computeDigestAuthorization({
      challenge: new Phone(registrar).send({ expires: 3600 }).headers.getLines('www-authenticate')[0] ?? '',
      method: 'REGISTER',
      uri: `sip:${DOMAIN}`,
      username: '1001',
      password: 'pw1001',
    });
    assert.ok(creds.ok);
    const phone2 = new Phone(registrar, '1001', 'pw1001', 'other-call');
    assert.equal(
      registrar.handleRegister(phone2.build({ expires: 3600 }, creds.value), phoneSource).status,
      200,
    );
    assert.equal(
      registrar.handleRegister(phone2.build({ expires: 3600 }, creds.value), phoneSource).status,
      401,
    );
  });

  void test('step 5: a To header without a user part names no address-of-record here (404)', () => {
    const { registrar, store } = setup();
    const phone = new Phone(registrar);
    const challenge = phone.send({ expires: 3600 }).headers.getLines('www-authenticate')[0] ?? '';
    const creds = computeDigestAuthorization({
      challenge,
      method: 'REGISTER',
      uri: `sip:${DOMAIN}`,
      username: '1001',
      password: 'pw1001',
    });
    assert.ok(creds.ok);
    const req = phone.build({ expires: 3600 }, creds.value);
    req.headers.set('to', `<sip:${DOMAIN}>`);
    assert.equal(registrar.handleRegister(req, phoneSource).status, 404);
    assert.equal(store.rows.size, 0);
  });

  void test('step 4: an authenticated user MUST NOT modify another extension’s bindings (403)', () => {
    const { registrar, store } = setup();
    const res = new Phone(registrar, '1001', 'pw1001', 'c1', '1002').register({ expires: 3600 });
    assert.equal(res.status, 403);
    assert.equal(store.rows.size, 0);
  });
});

void describe('Registrar: bindings (RFC 3261 §10.3 steps 6-8)', () => {
  void test('records the source endpoint, User-Agent and Call-ID/CSeq; lookup returns the live contact', () => {
    const { registrar } = setup();
    new Phone(registrar).register({ expires: 600 });
    const [b, ...rest] = registrar.lookup('1001');
    assert.equal(rest.length, 0);
    assert.ok(b);
    assert.equal(b.aor, 'sip:1001@pbx.example');
    assert.equal(b.contact, 'sip:1001@192.168.1.10:5062');
    assert.deepEqual(b.source, phoneSource);
    assert.equal(b.userAgent, 'TestPhone/1.0');
    assert.equal(b.callId, 'call-1001@192.168.1.10');
    assert.equal(b.cseq, 2);
    assert.equal(b.expiresAtMs, Date.UTC(2026, 0, 1) + 600_000);
    assert.deepEqual(registrar.lookup('1002'), []);
  });

  void test('bindings expire on the clock: the sweep removes them from memory and the store', () => {
    const { registrar, clock, store, changes } = setup();
    new Phone(registrar).register({ expires: 120 });
    clock.advance(119_000);
    assert.equal(registrar.lookup('1001').length, 1);
    clock.advance(1_000);
    assert.deepEqual(registrar.lookup('1001'), []);
    assert.equal(store.rows.size, 0);
    assert.deepEqual(changes, ['sip:1001@pbx.example', 'sip:1001@pbx.example']);
    assert.deepEqual(clock.armed(), [], 'no timer left once nothing is registered');
    registrar.close();
  });

  void test('a refresh pushes the expiry out; the 200 lists the remaining time', () => {
    const { registrar, clock } = setup();
    const phone = new Phone(registrar);
    phone.register({ expires: 120 });
    clock.advance(100_000);
    const res = phone.send({ expires: 120 });
    assert.equal(res.status, 200);
    assert.deepEqual(contactsOf(res), [{ uri: 'sip:1001@192.168.1.10:5062', expires: '120' }]);
    clock.advance(100_000);
    assert.equal(registrar.lookup('1001').length, 1);
  });

  void test('a REGISTER without Contact is a query: 200 lists the current bindings with their remaining expires', () => {
    const { registrar, clock, store } = setup();
    const phone = new Phone(registrar);
    phone.register({ expires: 600 });
    clock.advance(100_000);
    const res = phone.send({ contacts: [] });
    assert.equal(res.status, 200);
    assert.deepEqual(contactsOf(res), [{ uri: 'sip:1001@192.168.1.10:5062', expires: '500' }]);
    assert.equal(store.rows.size, 1);
  });

  const expiryCases: Array<{
    rule: string;
    expires?: number | string;
    contact: string;
    status: number;
    granted?: string;
  }> = [
    {
      rule: 'the Expires header sets the interval',
      expires: 300,
      contact: '<sip:1001@10.0.0.1>',
      status: 200,
      granted: '300',
    },
    {
      rule: 'neither Expires nor expires param: the configured default',
      contact: '<sip:1001@10.0.0.1>',
      status: 200,
      granted: '3600',
    },
    {
      rule: 'a contact "expires" param overrides the Expires header',
      expires: 300,
      contact: '<sip:1001@10.0.0.1>;expires=900',
      status: 200,
      granted: '900',
    },
    {
      rule: 'a contact "expires" param below the minimum gets 423 even with a good header',
      expires: 3600,
      contact: '<sip:1001@10.0.0.1>;expires=30',
      status: 423,
    },
    {
      rule: 'an Expires below the minimum gets 423 Interval Too Brief',
      expires: 30,
      contact: '<sip:1001@10.0.0.1>',
      status: 423,
    },
    {
      rule: 'an interval above the maximum is shortened to it',
      expires: 999_999,
      contact: '<sip:1001@10.0.0.1>',
      status: 200,
      granted: '7200',
    },
    {
      rule: 'a malformed Expires counts as absent',
      expires: 'soon',
      contact: '<sip:1001@10.0.0.1>',
      status: 200,
      granted: '3600',
    },
  ];
  for (const c of expiryCases) {
    void test(`step 7: ${c.rule}`, () => {
      const { registrar, store } = setup();
      const res = new Phone(registrar).register({ expires: c.expires, contacts: [c.contact] });
      assert.equal(res.status, c.status);
      if (c.status === 423) {
        assert.equal(res.headers.get('min-expires'), '60');
        assert.equal(store.rows.size, 0);
      } else {
        assert.equal(contactsOf(res)[0]?.expires, c.granted);
      }
    });
  }

  void test('several contacts per extension: best q first, then most recently refreshed', () => {
    const { registrar, clock } = setup();
    new Phone(registrar, '1001', 'pw1001', 'desk').register({
      contacts: ['<sip:1001@10.0.0.1>;q=0.5'],
      expires: 3600,
    });
    clock.advance(1000);
    new Phone(registrar, '1001', 'pw1001', 'soft').register({
      contacts: ['<sip:1001@10.0.0.2>'],
      expires: 3600,
    });
    clock.advance(1000);
    const res = new Phone(registrar, '1001', 'pw1001', 'mobile').register({
      contacts: ['<sip:1001@10.0.0.3>', '<sip:1001@10.0.0.4>;q=0.9'],
      expires: 3600,
    });
    assert.equal(res.status, 200);
    assert.equal(contactsOf(res).length, 4);
    assert.deepEqual(
      registrar.lookup('1001').map((b) => b.contact),
      ['sip:1001@10.0.0.3', 'sip:1001@10.0.0.2', 'sip:1001@10.0.0.4', 'sip:1001@10.0.0.1'],
    );
  });

  void test('a contact with expires=0 removes only that binding', () => {
    const { registrar, store } = setup();
    const phone = new Phone(registrar);
    phone.register({ contacts: ['<sip:1001@10.0.0.1>', '<sip:1001@10.0.0.2>'], expires: 3600 });
    const res = phone.send({ contacts: ['<sip:1001@10.0.0.1>;expires=0'] });
    assert.deepEqual(contactsOf(res), [{ uri: 'sip:1001@10.0.0.2', expires: '3600' }]);
    assert.equal(store.rows.size, 1);
  });

  void test('contacts are compared as URIs: host case and default port do not make a new binding', () => {
    const { registrar } = setup();
    const phone = new Phone(registrar);
    phone.register({ contacts: ['<sip:1001@Phone.LAN>'], expires: 3600 });
    phone.send({ contacts: ['<sip:1001@phone.lan:5060>'], expires: 3600 });
    assert.equal(registrar.lookup('1001').length, 1);
  });

  void test('maxContacts: a new contact replaces the least recently refreshed one', () => {
    const { registrar, clock } = setup({ maxContacts: 2 });
    for (const [i, callId] of ['a', 'b', 'c'].entries()) {
      clock.advance(1000);
      const res = new Phone(registrar, '1001', 'pw1001', callId).register({
        contacts: [`<sip:1001@10.0.0.${i + 1}>`],
      });
      assert.equal(res.status, 200);
    }
    assert.deepEqual(
      registrar
        .lookup('1001')
        .map((b) => b.contact)
        .sort(),
      ['sip:1001@10.0.0.2', 'sip:1001@10.0.0.3'],
    );
  });

  const wildcard: Array<{
    rule: string;
    contacts: string[];
    afterParse?: [string, string][];
    expires?: number;
    status: number;
    left: number;
  }> = [
    {
      rule: '"*" with Expires: 0 removes every binding of the AoR',
      contacts: ['*'],
      expires: 0,
      status: 200,
      left: 0,
    },
    {
      rule: '"*" with Expires other than 0 is invalid (400)',
      contacts: ['*'],
      expires: 3600,
      status: 400,
      left: 2,
    },
    { rule: '"*" without Expires is invalid (400)', contacts: ['*'], status: 400, left: 2 },
    {
      rule: '"*" with another Contact is invalid (400), even if a parser let it through',
      contacts: ['*'],
      afterParse: [['Contact', '<sip:1001@10.0.0.9>']],
      expires: 0,
      status: 400,
      left: 2,
    },
  ];
  for (const c of wildcard) {
    void test(`step 6: ${c.rule}`, () => {
      const { registrar, store } = setup();
      const phone = new Phone(registrar);
      phone.register({ contacts: ['<sip:1001@10.0.0.1>', '<sip:1001@10.0.0.2>'], expires: 3600 });
      const res = phone.send({ contacts: c.contacts, expires: c.expires, afterParse: c.afterParse });
      assert.equal(res.status, c.status);
      assert.equal(registrar.lookup('1001').length, c.left);
      assert.equal(store.rows.size, c.left);
      if (c.status === 200) assert.deepEqual(contactsOf(res), []);
    });
  }

  void test('step 7: same Call-ID with a CSeq not higher MUST abort the update (500), leaving the binding as it was', () => {
    const { registrar } = setup();
    const phone = new Phone(registrar);
    phone.register({ expires: 3600 });
    const before = registrar.lookup('1001');
    phone.cseq = 1; // the next request is built with CSeq 2, equal to the stored one
    const res = phone.send({ expires: 0 });
    assert.equal(res.status, 500);
    assert.deepEqual(registrar.lookup('1001'), before);
  });

  void test('step 7: a different Call-ID updates the binding whatever its CSeq', () => {
    const { registrar } = setup();
    new Phone(registrar, '1001', 'pw1001', 'first').register({ expires: 3600 });
    const other = new Phone(registrar, '1001', 'pw1001', 'rebooted');
    const res = other.register({ expires: 1800 });
    assert.equal(res.status, 200);
    const [b] = registrar.lookup('1001');
    assert.equal(b?.callId, 'rebooted');
    assert.equal(contactsOf(res)[0]?.expires, '1800');
  });

  void test('step 2: a Require the registrar does not support gets 420 with Unsupported', () => {
    const { registrar } = setup();
    const res = new Phone(registrar).register({ expires: 3600, extra: ['Require: path'] });
    assert.equal(res.status, 420);
    assert.equal(res.headers.get('unsupported'), 'path');
  });
});

void describe('Registrar: persistence and lifetime', () => {
  void test('bindings are reloaded from the store after a restart, and expire on schedule there', () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const first = setup({ store, clock });
    new Phone(first.registrar).register({ expires: 600 });
    new Phone(first.registrar, '1002').register({ expires: 120 });
    first.registrar.close();

    clock.advance(60_000);
    const second = setup({ store, clock });
    assert.equal(second.registrar.lookup('1001')[0]?.contact, 'sip:1001@192.168.1.10:5062');
    assert.deepEqual(second.registrar.lookup('1001')[0]?.source, phoneSource);
    assert.equal(second.registrar.lookup('1002').length, 1);
    clock.advance(60_000);
    assert.deepEqual(second.registrar.lookup('1002'), []);
    assert.equal(store.rows.size, 1);
    second.registrar.close();
  });

  void test('bindings already expired in the store are dropped at load', () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const first = setup({ store, clock });
    new Phone(first.registrar).register({ expires: 60 });
    first.registrar.close();
    clock.advance(61_000);
    const second = setup({ store, clock });
    assert.deepEqual(second.registrar.lookup('1001'), []);
    assert.equal(store.rows.size, 0);
  });

  void test('dump() is plain JSON; metrics count outcomes; close() disarms the sweep', () => {
    const { registrar, clock, metrics } = setup();
    new Phone(registrar).register({ expires: 600 });
    const d = registrar.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    assert.equal(d.bindings.length, 1);
    assert.equal(d.bindings[0]?.expiresInS, 600);
    assert.match(metrics.render(), /edgeline_sip_register_total\{outcome="unauthorized"\} 1/);
    assert.match(metrics.render(), /edgeline_sip_register_total\{outcome="ok"\} 1/);
    assert.match(metrics.render(), /edgeline_sip_registrar_bindings 1/);
    registrar.close();
    assert.deepEqual(clock.armed(), []);
  });
});
