/**
 * Runs @tensorflow/tfjs-core's own test suite (node_modules/@tensorflow/tfjs-core/dist/tests.js) with
 * jasmine, as tfjs-backend-cpu's run_tests.ts does, on the test environments named on the command line
 * ('cpu', 'peftjs'): `node test/tfjs/core_suite_runner.js OUT.json cpu,peftjs [FILTER]`.
 *
 * tfjs-core publishes its tests as ES modules (dist/*.js with extensionless imports), so this process
 * loads them through a require hook that turns them into CommonJS with TypeScript's transpileModule
 * (cached on disk), and resolves '@tensorflow/tfjs-core' to that same dist/index.js: the tests, tfjs's
 * cpu backend and lib/tfjs (loaded from its TypeScript source through the same hook) share one tfjs-core.
 * It writes every spec's full name, status and first failure message to OUT.json.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const crypto = require('crypto');
const Module = require('module');
const ts = require('typescript');

const [outFile, envList = 'cpu,peftjs', filter = ''] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node test/tfjs/core_suite_runner.js OUT.json [cpu,peftjs] [FILTER]');
  process.exit(2);
}
const root = path.resolve(__dirname, '..', '..');
const coreDir = path.dirname(require.resolve('@tensorflow/tfjs-core/package.json', { paths: [root] }));
const coreDist = coreDir + path.sep + 'dist' + path.sep;
const coreIndex = coreDist + 'index.js';
// tfjs-backend-cpu from its ES module build too (its node bundle is ES5, whose classes cannot extend the
// native classes of the transpiled tfjs-core).
const cpuDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-cpu/package.json', { paths: [root] }));
const cpuDist = cpuDir + path.sep + 'dist' + path.sep;
const cpuIndex = cpuDist + 'index.js';
const esmDist = (f) => (f.startsWith(coreDist) && !/tf-core(\.[a-z0-9]+)*\.js$/.test(f)) ||
  (f.startsWith(cpuDist) && !/tf-backend-cpu(\.[a-z0-9]+)*\.js$/.test(f));
const coreVersion = require(path.join(coreDir, 'package.json')).version;
const cacheDir = path.join(os.tmpdir(), `peftjs-tfjs-core-${coreVersion}-ts${ts.version}`);
fs.mkdirSync(cacheDir, { recursive: true });

function transpile(source, filename, isTs) {
  const key = crypto.createHash('sha1').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, key + '.js');
  if (!isTs) {
    try { return fs.readFileSync(cached, 'utf8'); } catch { /* not cached yet */ }
  }
  const out = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true,
      sourceMap: false, inlineSourceMap: false, allowJs: true,
    },
  }).outputText;
  if (!isTs) {
    const tmp = `${cached}.${process.pid}`;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, cached);
  }
  return out;
}

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === '@tensorflow/tfjs-core') return coreIndex;
  if (request === '@tensorflow/tfjs-backend-cpu') return cpuIndex;
  return resolve.call(this, request, parent, ...rest);
};
const loadJs = Module._extensions['.js'];
Module._extensions['.js'] = function (module, filename) {
  if (esmDist(filename)) {
    module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename, false), filename);
  } else loadJs(module, filename);
};
Module._extensions['.ts'] = function (module, filename) {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename, true), filename);
};

const Jasmine = require('jasmine');
const runner = new Jasmine({ projectBaseDir: root });
runner.exitOnCompletion = false;
runner.loadConfig({ spec_files: [], random: false });
jasmine.DEFAULT_TIMEOUT_INTERVAL = 120000;

process.on('unhandledRejection', (e) => {
  console.error('unhandled rejection:', e);
});

// Register the backends: 'cpu' (tfjs-backend-cpu) and 'peftjs' (lib/tfjs, from source).
require('@tensorflow/tfjs-backend-cpu');
require(coreDist + 'public/chained_ops/register_all_chained_ops.js');
require(coreDist + 'register_all_gradients.js');
const envs = envList.split(',');
if (envs.includes('peftjs')) require(path.join(root, 'lib', 'tfjs', 'index.ts'));
const jasmineUtil = require(coreDist + 'jasmine_util.js');
jasmineUtil.setTestEnvs(envs.map((name) => ({ name, backendName: name, isDataSync: true })));
// As tfjs-backend-cpu's run_tests.ts: every test but the web worker one.
jasmineUtil.setupTestFilters([], (name) => !name.includes('computation in worker') && (filter === '' || name.includes(filter)));

const results = [];
const started = Date.now();
let suiteError = null;
runner.addReporter({
  specDone(r) {
    const failure = r.failedExpectations[0];
    results.push({ name: r.fullName, status: r.status, ms: r.duration ?? null,
      message: failure ? String(failure.message).slice(0, 400) : undefined });
  },
  suiteDone(r) {
    if (r.failedExpectations.length > 0) {
      results.push({ name: `${r.fullName} (suite)`, status: 'failed', ms: null, message: String(r.failedExpectations[0].message).slice(0, 400) });
    }
  },
  jasmineDone(r) {
    if (r.failedExpectations && r.failedExpectations.length > 0) suiteError = String(r.failedExpectations[0].message);
  },
});

const quiet = console.warn;
console.warn = () => undefined;  // tfjs advertises tfjs-node, and some tests warn on purpose
require(coreDist + 'tests.js');
console.warn = quiet;

runner.execute().then(() => {
  fs.writeFileSync(outFile, JSON.stringify({ envs, seconds: (Date.now() - started) / 1000, suiteError, results }));
  process.exit(0);
}, (e) => {
  console.error(e);
  process.exit(1);
});
