import { test } from 'node:test';
import { startGateway } from '../../peers/gateway-process.ts';
import { startBaresip } from '../../peers/baresip.ts';
test('dbg', async (t) => {
  const gw = await startGateway({ demo: true, env: { EDGELINE_LOG_LEVEL: 'debug' } });
  const p = await startBaresip({ user: '1002', password: 'demo1002', registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' }, codec: 'PCMU' });
  await p.waitRegistered();
  await p.dial('sip:995001@edgeline.local');
  try { await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15000 }); t.diagnostic('OK'); } catch (e) { t.diagnostic('FAIL'); }
  await p.hangup().catch(() => undefined);
  await p.stop();
  await gw.stop();
  const out = gw.output().split('\n').filter((l) => /pstn|PSTN|line|fxo|503|fault/i.test(l)).map((l) => l.slice(0, 300));
  console.log(out.join('\n'));
});
