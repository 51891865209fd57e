/**
 * The reference backend: plain TypeScript loops, written to be obviously right rather than fast. Every
 * other backend is tested against it.
 */
import { REFERENCE_KERNELS } from '../../ops';
import { UNARY_OPS } from '../../ops/unary/table';
import { checkedPrimitives } from '../primitive_checks';
import { KernelTable } from '../registry';
import type { Backend, BinaryOpName, Buf, PrimitiveKernels, Storage } from '../types';
import { philoxFill } from './philox';

function host(b: Buf): Float32Array {
  if (b.storage.data === undefined) throw new Error(`js backend: storage on '${b.storage.device}' is not host memory`);
  return b.storage.data;
}

const BINARY: Record<BinaryOpName, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

/** The primitives, as plain loops. */
const jsPrimitiveKernels: PrimitiveKernels = {
  gemm(p) {
    const A = host(p.a), B = host(p.b), C = host(p.c);
    const bias = p.bias ? host(p.bias) : null;
    for (let i = 0; i < p.m; i++) {
      for (let j = 0; j < p.n; j++) {
        let acc = 0;
        for (let q = 0; q < p.k; q++) {
          const a = p.transA ? A[p.a.offset + q * p.lda + i] : A[p.a.offset + i * p.lda + q];
          const b = p.transB ? B[p.b.offset + j * p.ldb + q] : B[p.b.offset + q * p.ldb + j];
          acc += a * b;
        }
        const ci = p.c.offset + i * p.ldc + j;
        const prior = p.beta === 0 ? 0 : p.beta * C[ci];
        C[ci] = p.alpha * acc + prior + (bias ? bias[p.bias!.offset + j] : 0);
      }
    }
  },

  binary({ op, a, b, out, n, bLength }) {
    const A = host(a), B = host(b), O = host(out), f = BINARY[op];
    for (let i = 0; i < n; i++) O[out.offset + i] = f(A[a.offset + i], B[b.offset + (i % bLength)]);
  },

  scale({ a, out, n, alpha, beta }) {
    const A = host(a), O = host(out);
    for (let i = 0; i < n; i++) O[out.offset + i] = alpha * A[a.offset + i] + beta;
  },

  unary({ op, a, out, n }) {
    const A = host(a), O = host(out), f = UNARY_OPS[op].f;
    for (let i = 0; i < n; i++) O[out.offset + i] = f(A[a.offset + i]);
  },

  rowReduce({ op, a, out, rows, cols }) {
    const A = host(a), O = host(out);
    for (let r = 0; r < rows; r++) {
      const base = a.offset + r * cols;
      let acc = op === 'max' ? -Infinity : 0;
      for (let j = 0; j < cols; j++) {
        const x = A[base + j];
        acc = op === 'max' ? (x > acc || Number.isNaN(x) ? x : acc) : acc + x;
      }
      O[out.offset + r] = op === 'mean' ? (cols === 0 ? 0 : acc / cols) : acc;
    }
  },

  softmax({ a, out, rows, cols }) {
    const A = host(a), O = host(out);
    for (let r = 0; r < rows; r++) {
      const ib = a.offset + r * cols, ob = out.offset + r * cols;
      let m = -Infinity;
      for (let j = 0; j < cols; j++) m = Math.max(m, A[ib + j]);
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.exp(A[ib + j] - m);
      for (let j = 0; j < cols; j++) O[ob + j] = Math.exp(A[ib + j] - m) / s;
    }
  },

  stridedCopy({ src, dst, shape, strides }) {
    const S = host(src), D = host(dst);
    const total = shape.reduce((x, y) => x * y, 1);
    const idx = new Array<number>(shape.length).fill(0);
    for (let flat = 0; flat < total; flat++) {
      let at = src.offset;
      for (let d = 0; d < shape.length; d++) at += idx[d] * strides[d];
      D[dst.offset + flat] = S[at];
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  },

  fill({ out, n, value }) {
    host(out).fill(value, out.offset, out.offset + n);
  },

  randomFill(p) {
    const [a, b] = p.kind === 'uniform' ? [p.low, p.high] : [p.mean, p.std];
    philoxFill(p.kind, host(p.out), p.out.offset, p.n, p.seed, p.offset, a, b);
  },
};

/** The primitive methods are the registry's checked kernels (checkedPrimitives), set in the constructor. */
export interface JsBackend extends PrimitiveKernels {}

export class JsBackend implements Backend {
  readonly name = 'js' as const;
  readonly device = 'cpu' as const;
  /** Every kernel: the primitives (also this backend's methods) and every op's reference kernels (lib/ops). */
  readonly kernels: KernelTable = new KernelTable(this.name).register({ ...jsPrimitiveKernels, ...REFERENCE_KERNELS }, this);

  constructor() {
    Object.assign(this, checkedPrimitives(this.kernels));
  }

  /**
   * 'float64' stores every tensor in a Float64Array (typed as Float32Array: the loops are the same), so
   * finite-difference gradient checks can run the whole autograd path in double precision. Tests only.
   */
  precision: 'float32' | 'float64' = 'float32';

  alloc(size: number): Storage {
    let data: Float32Array;
    try {
      data = this.precision === 'float64' ? (new Float64Array(size) as unknown as Float32Array) : new Float32Array(size);
    } catch (e) {
      // V8 says only "Array buffer allocation failed"; name what was asked for.
      const bytes = size * (this.precision === 'float64' ? 8 : 4);
      throw new RangeError(`js backend: out of memory allocating ${bytes} bytes (${size} elements): ${(e as Error).message}`);
    }
    return { backend: 'js', device: 'cpu', size, data, refs: 0, disposed: false };
  }

  free(storage: Storage): void {
    storage.disposed = true;
    (storage as { data?: Float32Array }).data = new Float32Array(0);
  }

  write(dst: Buf, values: Float32Array): void {
    host(dst).set(values, dst.offset);
  }

  read(src: Buf, size: number): Float32Array {
    return host(src).slice(src.offset, src.offset + size);
  }

  synchronize(): void {}
}

