/**
 * The boundaries of DESIGN §3, checked on the import graph of the source (base/, gateway/src,
 * drivers/; tests and scripts are outside the graph):
 *
 * - lower layers never import upper ones. Ranks, low to high: base → core (config) → store →
 *   protocol (sip, pstn, media) → call → apps (services, routing, failover, ivr, acd, recording,
 *   sync) → api → the wiring (the top-level files of gateway/src, which may import anything);
 * - drivers/ import only drivers/ and base/; of the gateway only pstn reaches the cards, and only
 *   through the driver API (drivers/api/);
 * - there is no import cycle, `import type` included: a cycle of types is still two modules that
 *   cannot be understood, tested or moved one without the other. Shared types go in a file of
 *   their own, in the lower of the two layers.
 *
 * eslint.config.js states the same rule per folder (`no-restricted-imports`) so that an editor
 * flags an upward import as it is typed; this test is the exact version (it resolves every path
 * and also sees `import()` and worker entry URLs) and checks that ESLint flags exactly what it
 * forbids and that both lists of known exceptions agree.
 *
 * The known exceptions are listed edge by edge, `from → to`. The test fails on an edge that is
 * not listed and on a listed edge that no longer exists, so the lists only ever shrink.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Linter } from 'eslint';
import ts from 'typescript';
import { parser } from 'typescript-eslint';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const sourceRoots = ['base', 'gateway/src', 'drivers'];

/**
 * Upward imports that exist today, one edge a line, each with what removes it. eslint.config.js
 * lists the same edges (`layerExceptions`).
 */
const knownLayerViolations: readonly (readonly [from: string, to: string])[] = [
  // The B2BUA reads routing's result types, which become call/'s own.
  ['gateway/src/call/b2bua.ts', 'gateway/src/routing/sip-routing.ts'],
  // Ring-group attempts use routing's result types, which become call/'s own.
  ['gateway/src/call/ring-group-targets.ts', 'gateway/src/routing/sip-routing.ts'],
  // The media engine is typed by call/'s media ports; those types move into media/.
  ['gateway/src/media/engine/engine.ts', 'gateway/src/call/ports.ts'],
  // The PSTN service opens the drivers itself and hunts with routing's port selection; pstn/
  // keeps line signalling over drivers/api/, the wiring opens the drivers, and hunting becomes
  // pstn/'s own.
  ['gateway/src/pstn/pstn-service.ts', 'drivers/index.ts'],
  ['gateway/src/pstn/pstn-service.ts', 'drivers/sim/central-office.ts'],
  ['gateway/src/pstn/pstn-service.ts', 'gateway/src/routing/hunt.ts'],
  // Port groups as route targets and line routing as call control reads them: they move to
  // routing/, which may import both.
  ['gateway/src/pstn/pstn-trunk.ts', 'gateway/src/call/b2bua.ts'],
  ['gateway/src/pstn/pstn-trunk.ts', 'gateway/src/routing/pstn-routing.ts'],
  ['gateway/src/pstn/pstn-trunk.ts', 'gateway/src/routing/ring-group.ts'],
  ['gateway/src/pstn/pstn-trunk.ts', 'gateway/src/routing/sip-routing.ts'],
  // Configuration validation runs routing's own checks (dial patterns, PSTN routes and loops);
  // validateConfig takes them from the wiring instead.
  ['gateway/src/store/config-validate.ts', 'gateway/src/routing/dial-pattern.ts'],
  ['gateway/src/store/config-validate.ts', 'gateway/src/routing/route-checks.ts'],
  // CDR rows are typed by call/'s LegRecord/InteractionRecord/CdrSink; those move to store/.
  ['gateway/src/store/cdr-writer.ts', 'gateway/src/call/ports.ts'],
];

/**
 * Import cycles that exist today, by the edge that removes each: the graph without these edges
 * must have no cycle at all.
 */
const knownCycleEdges: readonly (readonly [from: string, to: string])[] = [
  // Each of these imports types only; the types move into a file of their own that both sides
  // import. CallerIdentity, OutboundLeg and OutboundTarget out of sip-call.ts:
  ['gateway/src/call/blind-transfer.ts', 'gateway/src/call/sip-call.ts'],
  // ContactInfo out of b2bua.ts:
  ['gateway/src/call/ring-group-targets.ts', 'gateway/src/call/b2bua.ts'],
  // LegSide, ServiceLegPlan and ServiceLegHandle out of engine.ts:
  ['gateway/src/media/engine/engine-transfers.ts', 'gateway/src/media/engine/engine.ts'],
  ['gateway/src/media/mix/mix-rooms.ts', 'gateway/src/media/engine/engine.ts'],
  ['gateway/src/media/sdp/hold-music.ts', 'gateway/src/media/engine/engine.ts'],
];

// --- the layers -------------------------------------------------------------------------------

/** Rank of each folder of gateway/src; a folder without a rank fails the test. */
const gatewayRanks: Record<string, number> = {
  core: 1,
  config: 1,
  store: 2,
  sip: 3,
  pstn: 3,
  media: 3,
  call: 4,
  services: 5,
  routing: 5,
  failover: 5,
  ivr: 5,
  acd: 5,
  recording: 5,
  sync: 5,
  api: 6,
};
const appRank = 5;

type Layer =
  | { kind: 'base' }
  | { kind: 'drivers'; api: boolean }
  | { kind: 'gateway'; folder: string; rank: number | undefined }
  | { kind: 'wiring' }
  | { kind: 'outside' };

function layerOf(file: string): Layer {
  if (file.startsWith('base/')) return { kind: 'base' };
  if (file.startsWith('drivers/')) return { kind: 'drivers', api: file.startsWith('drivers/api/') };
  const m = /^gateway\/src\/(?:([^/]+)\/)?[^/]+$/.exec(file) ?? /^gateway\/src\/([^/]+)\//.exec(file);
  if (!m) return { kind: 'outside' };
  const folder = m[1];
  if (folder === undefined) return { kind: 'wiring' };
  return { kind: 'gateway', folder, rank: gatewayRanks[folder] };
}

/** Why `from` may not import `to`, or undefined when it may. */
function forbidden(from: string, to: string): string | undefined {
  const a = layerOf(from);
  const b = layerOf(to);
  if (b.kind === 'outside') return 'source imports only source (base/, gateway/src, drivers/)';
  if (a.kind === 'base') {
    return b.kind === 'base'
      ? undefined
      : 'base/ is below everything: it imports only base/ and node builtins';
  }
  if (a.kind === 'drivers') {
    return b.kind === 'base' || b.kind === 'drivers'
      ? undefined
      : 'drivers/ import only drivers/ and base/: what they share with the gateway lives in base/';
  }
  if (a.kind === 'wiring' || b.kind === 'base') return undefined;
  if (a.kind === 'outside') return undefined;
  // a is a layer of gateway/src from here on.
  if (b.kind === 'drivers') {
    if (a.folder !== 'pstn') return 'only gateway/src/pstn reaches the cards (through drivers/api/)';
    return b.api
      ? undefined
      : 'pstn codes against the driver API (drivers/api/), never a family or the registry';
  }
  if (b.kind === 'wiring') return 'the top-level files of gateway/src are the wiring: no layer imports them';
  if (a.folder === b.folder) return undefined;
  const ra = a.rank ?? Infinity;
  const rb = b.rank ?? Infinity;
  if (rb < ra) return undefined;
  if (rb === ra && ra === appRank) return undefined;
  if (rb === ra) {
    return `${a.folder}/ and ${b.folder}/ are independent layers of one rank: what they share goes below both`;
  }
  return `${a.folder}/ must not import ${b.folder}/: lower layers never import upper ones (DESIGN §3)`;
}

// --- the import graph -------------------------------------------------------------------------

/** One import of one file: `type` when it brings in types only, `worker` for a worker entry URL. */
interface Edge {
  from: string;
  to: string;
  kind: 'value' | 'type' | 'worker';
  /** An `import`/`export … from` statement (what ESLint's no-restricted-imports sees). */
  statement: boolean;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test' && entry.name !== 'node_modules') sourceFiles(path, out);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      out.push(path);
    }
  }
  return out;
}

/** The file a relative specifier names, as a repository-relative path. */
function resolve(from: string, spec: string): string {
  const path = posix.normalize(posix.join(posix.dirname(from), spec));
  for (const candidate of [path, path.replace(/\.js$/, '.ts'), `${path}.ts`, `${path}/index.ts`]) {
    if (existsSync(join(root, candidate)) && /\.[cm]?[jt]s$/.test(candidate)) return candidate;
  }
  return path;
}

function importsOf(file: string): {
  edges: Edge[];
  packages: { spec: string; statement: boolean }[];
  statements: string[];
} {
  const text = readFileSync(join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const edges: Edge[] = [];
  const packages: { spec: string; statement: boolean }[] = [];
  const statements: string[] = [];
  const add = (spec: string, kind: Edge['kind'], statement = false) => {
    if (spec.startsWith('.')) edges.push({ from: file, to: resolve(file, spec), kind, statement });
    else packages.push({ spec, statement });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly ? 'type' : 'value', true);
      statements.push(node.getText(source));
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = node.exportClause;
      const typeOnly =
        node.isTypeOnly ||
        (clause !== undefined &&
          ts.isNamedExports(clause) &&
          clause.elements.length > 0 &&
          clause.elements.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier.text, typeOnly ? 'type' : 'value', true);
      statements.push(node.getText(source));
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, 'value');
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, 'type');
    } else if (
      // new URL('./worker.ts', import.meta.url): the entry of a worker thread. (A URL of data,
      // such as a folder of prompts, is not an import.)
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'URL' &&
      node.arguments?.length === 2 &&
      ts.isStringLiteralLike(node.arguments[0]!) &&
      /^\..*\.[cm]?[jt]s$/.test(node.arguments[0].text) &&
      node.arguments[1]!.getText(source) === 'import.meta.url'
    ) {
      add(node.arguments[0].text, 'worker');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { edges, packages, statements };
}

const files = sourceRoots.flatMap((dir) => sourceFiles(dir)).sort();
const imports = files.map(importsOf);
const edges = imports.flatMap((i) => i.edges);

const arrow = (from: string, to: string) => `${from} → ${to}`;

/** Strongly connected components of `graph` (Tarjan), each with more than one file or a self-import. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out;
}

/** The shortest chain from the first file of `component` back to itself: a, b, a. */
function chain(graph: Map<string, Set<string>>, component: string[]): string[] {
  const inside = new Set(component);
  const start = component[0]!;
  const before = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = before.get(u))
          path.unshift(u);
        path.unshift(start);
        return path;
      }
      if (!before.has(w)) {
        before.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

function graphOf(list: readonly Edge[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>(files.map((f) => [f, new Set<string>()]));
  for (const e of list) if (e.kind !== 'worker') graph.get(e.from)?.add(e.to);
  return graph;
}

void describe('layers and cycles of the source (DESIGN §3)', () => {
  void test('the scan sees the source', () => {
    assert.ok(files.length > 100, `only ${files.length} source files found under ${root}`);
    assert.ok(edges.length > files.length, 'hardly any imports found');
  });

  void test('every folder of gateway/src has a rank', () => {
    const unranked = new Set<string>();
    for (const f of files) {
      const l = layerOf(f);
      if (l.kind === 'gateway' && l.rank === undefined) unranked.add(`gateway/src/${l.folder}`);
    }
    assert.deepEqual([...unranked], [], 'give the new folder a rank here and in eslint.config.js');
  });

  void test('base/ uses node builtins only, no packages', () => {
    const bad = files.flatMap((f, i) =>
      f.startsWith('base/')
        ? imports[i]!.packages.filter((p) => !p.spec.startsWith('node:')).map((p) => arrow(f, p.spec))
        : [],
    );
    assert.deepEqual(bad, []);
  });

  void test('no file imports a higher layer', () => {
    const found = new Map<string, string>();
    for (const e of edges) {
      const why = forbidden(e.from, e.to);
      if (why !== undefined) found.set(arrow(e.from, e.to), why);
    }
    const known = new Set(knownLayerViolations.map(([from, to]) => arrow(from, to)));
    const added = [...found].filter(([edge]) => !known.has(edge)).map(([edge, why]) => `${edge}: ${why}`);
    assert.deepEqual(added, [], 'upward imports (move the shared code down, or invert the dependency)');
    const gone = [...known].filter((edge) => !found.has(edge));
    assert.deepEqual(
      gone,
      [],
      'fixed: delete these from knownLayerViolations and layerExceptions in eslint.config.js',
    );
  });

  void test('no import cycle, type imports included', () => {
    const known = new Set(knownCycleEdges.map(([from, to]) => arrow(from, to)));
    const rest = edges.filter((e) => !known.has(arrow(e.from, e.to)));
    const restGraph = graphOf(rest);
    const typeOnly = new Set(edges.filter((e) => e.kind === 'type').map((e) => arrow(e.from, e.to)));
    for (const e of edges) if (e.kind === 'value') typeOnly.delete(arrow(e.from, e.to));
    const found = cycles(restGraph).map((c) => {
      const links = chain(restGraph, c);
      const types = links
        .slice(1)
        .map((to, i) => arrow(links[i]!, to))
        .filter((e) => typeOnly.has(e));
      return links.join(' → ') + (types.length > 0 ? ` (type imports only: ${types.join(', ')})` : '');
    });
    assert.deepEqual(found, [], 'import cycles (move what both files need into a file of its own)');

    // Each listed edge still exists and still closes a cycle.
    const fullGraph = graphOf(edges);
    const componentOf = new Map<string, number>();
    cycles(fullGraph).forEach((c, i) => c.forEach((f) => componentOf.set(f, i)));
    const gone = knownCycleEdges
      .filter(
        ([from, to]) =>
          !fullGraph.get(from)?.has(to) ||
          componentOf.get(from) !== componentOf.get(to) ||
          componentOf.get(from) === undefined,
      )
      .map(([from, to]) => arrow(from, to));
    assert.deepEqual(gone, [], 'no longer part of a cycle: delete these from knownCycleEdges');
  });

  void test('eslint.config.js states the same rule and the same exceptions', async () => {
    const config = (await import(pathToFileURL(join(root, 'eslint.config.js')).href)) as {
      default: (Linter.Config & { name?: string })[];
      layerExceptions: { file: string; targets: string[] }[];
    };
    const listed = config.layerExceptions.flatMap(({ file, targets }) => targets.map((t) => arrow(file, t)));
    const known = knownLayerViolations.map(([from, to]) => arrow(from, to));
    assert.deepEqual(listed.sort(), known.sort(), 'layerExceptions and knownLayerViolations differ');

    // Lint every source file with the layer blocks alone: ESLint must flag exactly the imports
    // this test forbids (those it can see: import and export statements); with the exception
    // blocks added, exactly those not excepted.
    const flagged = (blocks: Linter.Config[]): string[] => {
      const linter = new Linter({ cwd: root });
      const out = new Set<string>();
      files.forEach((f, i) => {
        // The file's import and export statements are all the rule looks at.
        const messages = linter.verify(
          imports[i]!.statements.join('\n'),
          [{ files: ['**/*.ts'], languageOptions: { parser } }, ...blocks],
          { filename: join(root, f) },
        );
        for (const m of messages) {
          const spec = /^'([^']+)' import is restricted/.exec(m.message)?.[1];
          assert.ok(spec !== undefined && m.ruleId === 'no-restricted-imports', `${f}: ${m.message}`);
          out.add(arrow(f, spec.startsWith('.') ? resolve(f, spec) : spec));
        }
      });
      return [...out].sort();
    };
    const layerBlocks = config.default.filter((c) => c.name?.startsWith('layers/'));
    const ruleBlocks = layerBlocks.filter((c) => !c.name?.startsWith('layers/exception '));
    assert.ok(ruleBlocks.length > 10 && layerBlocks.length > ruleBlocks.length, 'no layer blocks found');
    const forbiddenStatements = [
      ...new Set(edges.filter((e) => e.statement && forbidden(e.from, e.to)).map((e) => arrow(e.from, e.to))),
      ...files.flatMap((f, i) =>
        f.startsWith('base/')
          ? imports[i]!.packages.filter((p) => p.statement && !p.spec.startsWith('node:')).map((p) =>
              arrow(f, p.spec),
            )
          : [],
      ),
    ].sort();
    assert.deepEqual(flagged(ruleBlocks), forbiddenStatements, 'ESLint and this test disagree on the rule');
    assert.deepEqual(
      flagged(layerBlocks),
      forbiddenStatements.filter((e) => !known.includes(e)),
    );
  });
});
