/**
 * The gateway and real SIPp peers on the less common paths: a phone behind NAT (its Contact is a
 * private address), a caller on TCP, and the gateway registering itself to an upstream trunk.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import {
  describeSippResult,
  runSipp,
  startSipp,
  sippBinary,
  type SippServer,
  registerDemoExtension,
} from '../peers/sipp.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed: npm test installs it' : false;

describe('NAT, TCP and outbound registration (SIPp peers)', { skip }, () => {
  let gw: GatewayProcess;
  const servers: SippServer[] = [];
  const remote = () => `127.0.0.1:${gw.sipPort}`;

  before(async () => {
    gw = await startGateway({ demo: true });
  });

  after(async () => {
    for (const s of servers) await s.stop(500).catch(() => undefined);
    assert.equal(await gw.stop(), 0);
  });

  test('a phone behind NAT is called where its REGISTER came from, not at its private Contact', async () => {
    const port = await freePort('udp');
    const reg = await runSipp({
      scenario: 'register-nat.xml',
      remote: remote(),
      localPort: port,
      calls: 1,
      auth: { username: '1006', password: 'demo1006', uri: 'edgeline.local' },
      keys: { caller: '1006', caller_domain: 'edgeline.local', expires: '300' },
      timeoutS: 15,
    });
    assert.equal(reg.exitCode, 0, describeSippResult(reg));
    const status = await gw.api<{
      registrar: { bindings: Array<{ contact: string; source: { port: number } }> };
    }>('GET', '/api/status');
    const binding = status.body.registrar.bindings.find((b) => b.contact.includes('192.0.2.10'));
    assert.equal(binding?.source.port, port, 'the binding keeps the public source (received/rport)');

    const callee = await startSipp({ scenario: 'uas.xml', localPort: port, timeoutS: 60 });
    servers.push(callee);
    const call = await runSipp({
      scenario: 'uac-auth.xml',
      remote: remote(),
      localPort: await freePort('udp'),
      service: '1006',
      calls: 2,
      rate: 5,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      timeoutS: 20,
    });
    assert.equal(call.exitCode, 0, describeSippResult(call));
    assert.equal((await callee.stop()).stats?.successful, 2);
  });

  test('a caller on TCP reaches a callee on UDP (Content-Length framing, responses on the same connection)', async () => {
    const port = await freePort('udp');
    await registerDemoExtension(remote(), port, '1007');
    const callee = await startSipp({ scenario: 'uas.xml', localPort: port, timeoutS: 60 });
    servers.push(callee);
    const call = await runSipp({
      scenario: 'uac-auth.xml',
      remote: remote(),
      transport: 't1',
      localPort: await freePort('tcp'),
      service: '1007',
      calls: 3,
      rate: 5,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      timeoutS: 20,
    });
    assert.equal(call.exitCode, 0, describeSippResult(call));
    assert.equal((await callee.stop()).stats?.successful, 3);
  });

  test('the gateway registers to a trunk that challenges it, answering the digest', async () => {
    const port = await freePort('udp');
    const registrar = await startSipp({
      scenario: 'registrar-auth.xml',
      localPort: port,
      calls: 1,
      keys: { auth_realm: 'upstream.example', auth_user: 'branch7', auth_password: 'trunk-secret' },
      timeoutS: 30,
    });
    servers.push(registrar);
    const cfg = await gw.api<Record<string, unknown>>('GET', '/api/config');
    const put = await gw.api('PUT', '/api/config', {
      ...cfg.body,
      trunks: [
        {
          id: 'upstream',
          members: [{ host: '127.0.0.1', port, transport: 'udp', weight: 1 }],
          credentials: { username: 'branch7', password: 'trunk-secret' },
          register: { enabled: true, expiresS: 600, retryMinS: 1, retryMaxS: 5 },
          probe: { enabled: false },
        },
      ],
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const deadline = Date.now() + 10_000;
    let state = '';
    while (Date.now() < deadline) {
      const s = await gw.api<{ trunkRegistrations: Record<string, { state: string }> }>('GET', '/api/status');
      state = s.body.trunkRegistrations['upstream']?.state ?? '';
      if (state === 'registered') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, 'registered');
    const result = await registrar.stop();
    assert.equal(result.stats?.successful, 1, describeSippResult(result));
  });
});
