/** The PEFT kernels in the bad-input harness. */
import type { KernelCase } from './case';

const GATE = { gamma: -1.5, zeta: 1.5, beta: 1 };

// T=2 K=3 N=4 r=2 throughout.
export const PEFT_CASES: KernelCase[] = [
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
