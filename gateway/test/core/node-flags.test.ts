import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GATEWAY_NODE_FLAGS } from '../../src/node-flags.ts';

void test('npm start runs the gateway with GATEWAY_NODE_FLAGS, as the benchmarks and the tests do', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  };
  assert.equal(pkg.scripts.start, `node ${GATEWAY_NODE_FLAGS.join(' ')} --import tsx gateway/src/main.ts`);
});
