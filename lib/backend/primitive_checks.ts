/**
 * The primitive kernels' argument checks (see checks.ts), the same for every backend and the same messages
 * as the addon's (csrc/binding/ops_binding.cc), field by field in the same order.
 */
import type { ArgChecks, KernelCheck } from './checks';
import type { KernelTable } from './registry';
import { type PrimitiveKernels, UNARY_OP_NAMES } from './types';

type Checks = { [K in keyof PrimitiveKernels]: KernelCheck<Parameters<PrimitiveKernels[K]>[0]> };

const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;
const REDUCE_OPS = ['sum', 'max', 'mean'] as const;

/** An op name: a string (oneOf's type error otherwise) among `values`, else the addon's message for it. */
function opName<T extends string>(c: ArgChecks, v: unknown, values: readonly T[], unknown: (name: string) => string): T {
  if (typeof v === 'string' && !values.includes(v as T)) c.fail(unknown(v));
  return c.oneOf('op', v, values);
}

/** Elements a row-major [rows, cols] matrix with leading dimension ld spans; checks ld >= cols. */
export function matrixSpan(c: ArgChecks, name: string, rows: number, cols: number, ld: number): number {
  if (ld < cols) c.fail(`leading dimension of '${name}' is ${ld}, expected at least ${cols} (its column count)`);
  return rows === 0 || cols === 0 ? 0 : c.mul(rows - 1, ld) + cols;
}

export const primitiveChecks: Checks = {
  gemm(p, c) {
    const transA = c.boolean('transA', p.transA), transB = c.boolean('transB', p.transB);
    const m = c.dim('m', p.m), n = c.dim('n', p.n), k = c.dim('k', p.k);
    c.value('alpha', p.alpha);
    const lda = c.dim('lda', p.lda), ldb = c.dim('ldb', p.ldb);
    c.value('beta', p.beta);
    const ldc = c.dim('ldc', p.ldc);
    // Stored shapes: A is [m, k] or [k, m] (transA); B is [k, n] or [n, k] (transB); C is [m, n].
    const aNeed = transA ? matrixSpan(c, 'a', k, m, lda) : matrixSpan(c, 'a', m, k, lda);
    const bNeed = transB ? matrixSpan(c, 'b', n, k, ldb) : matrixSpan(c, 'b', k, n, ldb);
    const cNeed = matrixSpan(c, 'c', m, n, ldc);
    c.buf('a', p.a, aNeed);
    c.buf('b', p.b, bNeed);
    c.buf('c', p.c, cNeed);
    c.optBuf('bias', p.bias, n);
  },

  binary(p, c) {
    opName(c, p.op, BINARY_OPS, (op) => `unknown binary op '${op}' (expected add, sub, mul or div)`);
    const n = c.dim('n', p.n), bLength = c.dim('bLength', p.bLength);
    if (n > 0 && (bLength === 0 || n % bLength !== 0)) {
      c.fail(`b of length ${bLength} does not broadcast over a of length ${n} (expected the same length or a row width that divides it)`);
    }
    c.buf('a', p.a, n);
    c.buf('b', p.b, bLength);
    c.buf('out', p.out, n);
  },

  scale(p, c) {
    const n = c.dim('n', p.n);
    c.value('alpha', p.alpha);
    c.value('beta', p.beta);
    c.buf('a', p.a, n);
    c.buf('out', p.out, n);
  },

  unary(p, c) {
    opName(c, p.op, UNARY_OP_NAMES, (op) => `unknown unary op '${op}'`);
    const n = c.dim('n', p.n);
    c.buf('a', p.a, n);
    c.buf('out', p.out, n);
  },

  rowReduce(p, c) {
    opName(c, p.op, REDUCE_OPS, (op) => `unknown reduction '${op}' (expected sum, max or mean)`);
    const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
    c.buf('a', p.a, c.mul(rows, cols));
    c.buf('out', p.out, rows);
  },

  softmax(p, c) {
    const rows = c.dim('rows', p.rows), cols = c.dim('cols', p.cols);
    const n = c.mul(rows, cols);
    c.buf('a', p.a, n);
    c.buf('out', p.out, n);
  },

  stridedCopy(p, c) {
    const { total, span } = c.viewSpan('shape', p.shape, 'strides', p.strides);
    c.buf('src', p.src, span);
    c.buf('dst', p.dst, total);
  },

  fill(p, c) {
    const n = c.dim('n', p.n);
    c.value('value', p.value);
    c.buf('out', p.out, n);
  },

  randomFill(p, c) {
    const kind = c.oneOf('kind', p.kind, ['uniform', 'normal'] as const);
    const n = c.dim('n', p.n);
    c.dim('seed', p.seed);
    c.dim('offset', p.offset);
    if (kind === 'uniform') {
      c.number('low', (p as { low?: unknown }).low);
      c.number('high', (p as { high?: unknown }).high);
    } else {
      c.number('mean', (p as { mean?: unknown }).mean);
      c.number('std', (p as { std?: unknown }).std);
    }
    c.buf('out', p.out, n);
  },
};

/**
 * A backend's primitive methods: each is the registry's checked kernel, so `be.gemm(p)` (how ops call the
 * primitives) and `kernel(be, 'gemm', op)` are one path, checks included.
 */
export function checkedPrimitives(kernels: KernelTable): PrimitiveKernels {
  return {
    gemm: kernels.get('gemm', 'gemm'),
    binary: kernels.get('binary', 'binary'),
    scale: kernels.get('scale', 'scale'),
    unary: kernels.get('unary', 'unary'),
    rowReduce: kernels.get('rowReduce', 'rowReduce'),
    softmax: kernels.get('softmax', 'softmax'),
    stridedCopy: kernels.get('stridedCopy', 'stridedCopy'),
    fill: kernels.get('fill', 'fill'),
    randomFill: kernels.get('randomFill', 'randomFill'),
  };
}
