/**
 * One bad-input harness for the kernels that take a params object: each bad field must be refused with an
 * error naming the kernel and the field, the same message on every backend (the checks run in the
 * registry, lib/backend/checks.ts), and the addon itself must refuse it too when called without the
 * registry (memory safety), never crashing or reading past a buffer.
 */
import { backend, type BackendName, type Buf, type KernelName } from '../lib';
import { loadAddon } from '../lib/backend/native/addon';
import { hostParams } from '../lib/backend/native/views';
import { backendsWithKernels } from './helpers/backends';
import { bufOf } from './helpers/bufs';

type Params = Record<string, unknown>;

interface KernelCase {
  kernel: KernelName;
  /** Valid params on a backend (buffers made there by buf(n)). */
  params: (buf: (n: number) => Buf) => Params;
  dims: string[];
  bufs: string[];
  /** Field changes and the message each must give (after '<kernel>: '). */
  ranges: [Params, string][];
}

const GATE = { gamma: -1.5, zeta: 1.5, beta: 1 };

// T=2 K=3 N=4 r=2 throughout.
const CASES: KernelCase[] = [
  {
    kernel: 'loraForward',
    params: (b) => ({ T: 2, K: 3, N: 4, r: 2, x: b(6), w: b(12), bias: b(4), a: b(6), b: b(8), scale: 1, dropout: 0, seed: 0, rowOffset: 0, u: b(4), y: b(8) }),
    dims: ['T', 'K', 'N', 'r', 'seed', 'rowOffset'],
    bufs: ['x', 'w', 'bias', 'a', 'b', 'u', 'y'],
    ranges: [
      [{ r: 0 }, 'rank r must be at least 1'],
      [{ dropout: 1 }, 'dropout must be in [0, 1), got 1'],
      [{ w: null }, 'bias is given without w (the bias belongs to the base layer)'],
    ],
  },
  {
    kernel: 'loraBackward',
    params: (b) => ({ T: 2, K: 3, N: 4, r: 2, x: b(6), w: b(12), a: b(6), b: b(8), u: b(4), dy: b(8), scale: 1, dropout: 0, seed: 0, rowOffset: 0,
      dx: b(6), da: b(6), db: b(8), dbias: b(4) }),
    dims: ['T', 'K', 'N', 'r', 'seed', 'rowOffset'],
    bufs: ['x', 'w', 'a', 'b', 'u', 'dy', 'dx', 'da', 'db', 'dbias'],
    ranges: [[{ r: 0 }, 'rank r must be at least 1'], [{ dropout: -0.5 }, 'dropout must be in [0, 1), got -0.5']],
  },
  {
    kernel: 'ia3Forward',
    params: (b) => ({ mode: 'output', T: 2, K: 3, N: 4, x: b(6), w: b(12), bias: b(4), l: b(4), y: b(8), yPre: b(8) }),
    dims: ['T', 'K', 'N'],
    bufs: ['x', 'w', 'bias', 'l', 'y', 'yPre'],
    ranges: [[{ mode: 'sideways' }, "mode must be 'output' or 'input', got 'sideways'"]],
  },
  {
    kernel: 'ia3Backward',
    params: (b) => ({ mode: 'output', T: 2, K: 3, N: 4, x: b(6), w: b(12), l: b(4), dy: b(8), yPre: b(8), dx: b(6), dl: b(4) }),
    dims: ['T', 'K', 'N'],
    bufs: ['x', 'w', 'l', 'dy', 'yPre', 'dx', 'dl'],
    ranges: [[{ yPre: null }, 'output scaling needs yPre (the unscaled output) for dl']],
  },
  {
    kernel: 'diffPruneForward',
    params: (b) => ({ n: 5, w: b(5), delta: b(5), logAlpha: b(5), logAlphaLength: 5, training: true, seed: 1, gate: GATE, wOut: b(5), z: b(5) }),
    dims: ['n', 'logAlphaLength', 'seed'],
    bufs: ['w', 'delta', 'logAlpha', 'wOut', 'z'],
    ranges: [
      [{ logAlphaLength: 3 }, 'logAlphaLength must be 1 (structured) or n = 5, got 3'],
      [{ gate: { ...GATE, gamma: 0.5 } }, 'gate needs gamma < 0, zeta > 1 and beta > 0, got gamma 0.5, zeta 1.5, beta 1'],
    ],
  },
  {
    kernel: 'diffPruneBackward',
    params: (b) => ({ n: 5, dw: b(5), delta: b(5), logAlpha: b(5), logAlphaLength: 5, training: true, seed: 1, gate: GATE, lambda: 0.1,
      dDelta: b(5), dLogAlpha: b(5), gates: b(5) }),
    dims: ['n', 'logAlphaLength', 'seed'],
    bufs: ['dw', 'delta', 'logAlpha', 'dDelta', 'dLogAlpha', 'gates'],
    ranges: [[{ gate: { ...GATE, beta: 0 } }, 'gate needs gamma < 0, zeta > 1 and beta > 0, got gamma -1.5, zeta 1.5, beta 0']],
  },
  { kernel: 'projectTopK', params: (b) => ({ v: b(5), n: 5, keep: 2 }), dims: ['n', 'keep'], bufs: ['v'], ranges: [] },
  {
    kernel: 'bitfitBackward',
    params: (b) => ({ T: 2, K: 3, N: 4, dy: b(8), w: b(12), dx: b(6), dbias: b(4) }),
    dims: ['T', 'K', 'N'],
    bufs: ['dy', 'w', 'dx', 'dbias'],
    ranges: [],
  },
];

const BAD_DIMS = [-1, NaN, 1.5, Infinity, 2 ** 53];

/** Every bad variant of a case's params: [what, change, expected message or null (only 'names the kernel')]. */
function variants(c: KernelCase, buf: (n: number) => Buf): [string, Params, RegExp | string][] {
  const out: [string, Params, RegExp | string][] = [];
  for (const d of c.dims) for (const bad of BAD_DIMS) out.push([`${d} = ${bad}`, { [d]: bad }, new RegExp(`^${c.kernel}: argument '${d}' must`)]);
  for (const name of c.bufs) {
    out.push([`${name} too short`, { [name]: buf(1) }, new RegExp(`^${c.kernel}: argument '${name}' has \\d+ elements, expected at least \\d+$`)]);
    out.push([`${name} not a buffer`, { [name]: 7 }, new RegExp(`^${c.kernel}: argument '${name}' must be a`)]);
  }
  for (const [change, message] of c.ranges) out.push([JSON.stringify(change), change, `${c.kernel}: ${message}`]);
  return out;
}

/** The message a call throws, or 'no error'. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  }
}

describe.each(CASES.map((c) => [c.kernel, c] as const))('%s rejects bad input', (name, c) => {
  const backends = backendsWithKernels(name);
  const run = (b: BackendName) => backend(b).kernels.get(name, 'test') as (p: unknown) => unknown;

  /** The message each backend gives for one variant (buffers made on that backend). */
  function messages(change: (buf: (n: number) => Buf) => Params): Map<BackendName, string> {
    const out = new Map<BackendName, string>();
    for (const b of backends) {
      const be = backend(b);
      const buf = (n: number) => bufOf(be, new Float32Array(n));
      out.set(b, messageOf(() => run(b)({ ...c.params(buf), ...change(buf) })));
    }
    return out;
  }

  it('accepts its valid params on every backend', () => {
    for (const [b, m] of messages(() => ({}))) expect([b, m]).toEqual([b, 'no error']);
  });

  it('refuses each bad field with the same message on every backend', () => {
    const probe = (n: number) => bufOf(backend('js'), new Float32Array(n));
    for (const [what, , expected] of variants(c, probe)) {
      const got = messages((buf) => variants(c, buf).find(([w]) => w === what)![1]);
      for (const [b, m] of got) {
        if (typeof expected === 'string') expect([what, b, m]).toEqual([what, b, expected]);
        else expect([what, b, m]).toEqual([what, b, expect.stringMatching(expected)]);
      }
      expect(new Set(got.values()).size).toBe(1);
    }
  });

  it('refuses a call without a params object', () => {
    for (const b of backends) expect(() => run(b)(3)).toThrow(`${name}: expected one params object, got number`);
  });

  const addon = loadAddon();
  (addon && name in addon ? it : it.skip)('is refused by the addon itself, without the registry, when a buffer is short or a field is missing', () => {
    const be = backend('js');
    const valid = hostParams(c.params((n) => bufOf(be, new Float32Array(n))));
    const raw = (addon as unknown as Record<string, (p: unknown) => unknown>)[name];
    expect(() => raw({ ...valid })).not.toThrow();
    for (const field of c.bufs) {
      expect(() => raw({ ...valid, [field]: new Float32Array(1) })).toThrow(new RegExp(`^${name}: argument '${field}' has 1 elements`));
    }
    for (const field of c.dims) expect(() => raw({ ...valid, [field]: undefined })).toThrow(new RegExp(`^${name}: argument '${field}' must be a number`));
    expect(() => raw(5)).toThrow(`${name}: expected one params object, got number 5`);
  });
});
