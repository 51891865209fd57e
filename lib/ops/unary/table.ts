/**
 * Every unary op, in one table: its name, its value f and its derivative df at the op's input, in double
 * precision, and the inputs it is defined on (what the specs draw from). The names, the js backend's
 * `unary` and `unaryBackward` kernels, the argument checks and the specs all read this table; its C++ twin
 * is csrc/kernels/elementwise/unary_ops.h (the CPU and CUDA kernels). Adding an op: docs/DESIGN.md.
 */
import { erf } from '../../backend/js/math';

export interface UnaryMath {
  f(x: number): number;
  df(x: number): number;
  /** 'positive': defined for x > 0 only (log, sqrt); specs draw their inputs accordingly. */
  domain: 'real' | 'positive';
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export const UNARY_OPS = {
  exp: { f: Math.exp, df: Math.exp, domain: 'real' },
  log: { f: Math.log, df: (x) => 1 / x, domain: 'positive' },
  tanh: { f: Math.tanh, df: (x) => { const t = Math.tanh(x); return 1 - t * t; }, domain: 'real' },
  // x Phi(x); d/dx = Phi(x) + x phi(x)
  gelu: {
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
    domain: 'real',
  },
  // x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3); d/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
  gelu_tanh: {
    f: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
    df: (x) => {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    },
    domain: 'real',
  },
  // x s(x); d/dx = s (1 + x (1 - s))
  silu: { f: (x) => x * sigmoid(x), df: (x) => { const s = sigmoid(x); return s * (1 + x * (1 - s)); }, domain: 'real' },
  relu: { f: (x) => (x <= 0 ? 0 : x), df: (x) => (x > 0 ? 1 : 0), domain: 'real' },  // NaN stays NaN, as in PyTorch
  neg: { f: (x) => -x, df: () => -1, domain: 'real' },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x), domain: 'positive' },
  sigmoid: { f: sigmoid, df: (x) => { const s = sigmoid(x); return s * (1 - s); }, domain: 'real' },
  // log(1 + e^x), linear past x = 20 as torch.nn.functional.softplus (beta 1, threshold 20); d/dx = s(x)
  softplus: { f: (x) => (x > 20 ? x : Math.log1p(Math.exp(x))), df: (x) => (x > 20 ? 1 : sigmoid(x)), domain: 'real' },
} satisfies Record<string, UnaryMath>;

export type UnaryOpName = keyof typeof UNARY_OPS;
/** Every unary op by name, in the table's order. */
export const UNARY_OP_NAMES = Object.keys(UNARY_OPS) as UnaryOpName[];
