/**
 * When the native addon does not load, peftjs runs on the ~300x slower js backend and says so once on
 * stderr (the load error and how to rebuild), unless the user chose js (PEFTJS_BACKEND=js, or
 * setBackend('js') before the first op). PEFTJS_ADDON at a missing file stands in for a broken build;
 * each case loads lib/backend afresh (jest.isolateModules), as a new process would.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

type BackendModule = typeof import('../lib/backend');

describe('the js fallback', () => {
  const saved = { addon: process.env.PEFTJS_ADDON, backend: process.env.PEFTJS_BACKEND };
  let stderr: jest.SpyInstance;
  afterEach(() => {
    stderr.mockRestore();
    for (const [key, value] of [['PEFTJS_ADDON', saved.addon], ['PEFTJS_BACKEND', saved.backend]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  /** A fresh lib/backend under these variables, with stderr captured. */
  function load(env: { PEFTJS_ADDON?: string; PEFTJS_BACKEND?: string }): { b: BackendModule; written: () => string[] } {
    delete process.env.PEFTJS_ADDON;
    delete process.env.PEFTJS_BACKEND;
    Object.assign(process.env, env);
    const lines: string[] = [];
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { lines.push(String(s)); return true; });
    let b!: BackendModule;
    jest.isolateModules(() => { b = require('../lib/backend') as BackendModule; });
    return { b, written: () => lines };
  }
  const missing = path.join(__dirname, 'no-such-addon.node');

  it('warns once, naming the load error and the rebuild command', () => {
    const { b, written } = load({ PEFTJS_ADDON: missing });
    expect(b.getBackend().name).toBe('js');
    b.getBackend();
    b.withBackend('js', () => b.getBackend());
    expect(written()).toHaveLength(1);
    const line = written()[0];
    expect(line).toMatch(/^peftjs: the native addon did not load \(Cannot find module '.*no-such-addon\.node'/);
    expect(line).toMatch(/npm rebuild peftjs/);
    expect(line).toMatch(/PEFTJS_BACKEND=js/);
    expect(line.endsWith('\n') && line.indexOf('\n') === line.length - 1).toBe(true);
  });

  it('is silent when PEFTJS_BACKEND=js chose it', () => {
    const { b, written } = load({ PEFTJS_ADDON: missing, PEFTJS_BACKEND: 'js' });
    expect(b.getBackend().name).toBe('js');
    expect(written()).toEqual([]);
  });

  it("is silent when setBackend('js') came before the first op", () => {
    const { b, written } = load({ PEFTJS_ADDON: missing });
    b.setBackend('js');
    expect(b.getBackend().name).toBe('js');
    expect(written()).toEqual([]);
  });

  it('PEFTJS_BACKEND naming an unavailable or unknown backend throws, saying so', () => {
    expect(() => load({ PEFTJS_ADDON: missing, PEFTJS_BACKEND: 'native' }).b.getBackend())
      .toThrow(/^PEFTJS_BACKEND=native: backend 'native' is not available: the native addon did not load/);
    expect(() => load({ PEFTJS_BACKEND: 'tpu' }).b.getBackend()).toThrow(/^PEFTJS_BACKEND=tpu: unknown backend 'tpu'/);
  });

  it('is silent where the addon loads', () => {
    const { b, written } = load({});
    if (b.availableBackends().includes('native')) expect(b.getBackend().name).toBe('native');
    else console.log('the addon is not built here: only the fallback cases ran');
    expect(written().filter((s) => s.includes('native addon did not load'))).toHaveLength(b.availableBackends().includes('native') ? 0 : 1);
  });

  // Node's own require (jest's differs) adds a "Require stack" under the message: the warning keeps its first line.
  const INDEX = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
  (fs.existsSync(INDEX) ? it : it.skip)("require('peftjs') in a fresh process: one line on stderr, none with PEFTJS_BACKEND=js", () => {
    const script = `const p = require(${JSON.stringify(INDEX)}); p.add(p.zeros([2]), p.ones([2])).toFloat32Array();`;
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, PEFTJS_ADDON: missing, ...env } });
    const fallback = run({});
    expect(fallback.status).toBe(0);
    expect(fallback.stderr.split('\n')).toEqual([expect.stringMatching(/^peftjs: the native addon did not load \(Cannot find module '.*no-such-addon\.node'\), so every op runs on the js/), '']);
    expect(run({ PEFTJS_BACKEND: 'js' }).stderr).toBe('');
  });
});
