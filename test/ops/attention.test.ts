/**
 * Fused attention: every backend against the js reference on random shapes (odd sizes, GQA, causal with
 * a KV-cache offset, key masks with a fully hidden sequence, q/k/v as strided slices of one buffer, sliding
 * windows on odd lengths around the window and the tiles, logit soft-capping), the reference against a naive
 * materialized softmax(q k^T) v, float64 finite differences of the reference backward (with windows and
 * soft-caps), and a case checked against PyTorch.
 */
import { backend, type BackendName, type Buf } from '../../lib';
import type { Backend } from '../../lib/backend/types';
import type { AttentionParams } from '../../lib/ops/attention/kernel';
import * as ref from '../../lib/ops/attention/reference';
import { backendsUnderTest, backendsWithKernels, cpuPaths, hostRandom, withCpuPath } from '../helpers/backends';
import { expectGradClose, numericGrad } from '../helpers/gradcheck';

interface Case {
  B: number; tq: number; tk: number; Hq: number; Hkv: number; D: number; causal: boolean;
  /** none; some: random hidden keys; sequence: also the whole of sequence 0 hidden. */
  mask: 'none' | 'some' | 'sequence';
  /** q, k, v (and dq, dk, dv) as column slices of one [B*T, (Hq + 2 Hkv) D + pad] buffer (needs tq = tk). */
  fused: boolean;
  /** Sliding window (absent: none) and logit soft-cap (absent: none). */
  window?: number;
  softcap?: number;
}

/** Columns past the heads in every strided row: a kernel must leave them alone. */
const PAD = 3;
const SENTINEL = 12345;

interface Layout { qOff: number; kOff: number; vOff: number; qStride: number; kStride: number; vStride: number; qLen: number; kLen: number; vLen: number }

function layout(c: Case): Layout {
  const qw = c.Hq * c.D, kw = c.Hkv * c.D;
  if (c.fused) {
    const stride = qw + 2 * kw + PAD, len = c.B * c.tq * stride;
    return { qOff: 0, kOff: qw, vOff: qw + kw, qStride: stride, kStride: stride, vStride: stride, qLen: len, kLen: len, vLen: len };
  }
  return {
    qOff: 0, kOff: 0, vOff: 0, qStride: qw + PAD, kStride: kw + PAD, vStride: kw + 1,
    qLen: c.B * c.tq * (qw + PAD), kLen: c.B * c.tk * (kw + PAD), vLen: c.B * c.tk * (kw + 1),
  };
}

function keyMask(c: Case, seed: number): Int32Array | null {
  if (c.mask === 'none') return null;
  const m = Int32Array.from(hostRandom(c.B * c.tk, seed), (u) => (u > -0.4 ? 1 : 0));
  if (c.mask === 'sequence') m.fill(0, 0, c.tk);
  return m;
}

interface Results { out: Float32Array; lse: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }

/** Runs forward and backward of a case on one backend; gradients come back in their strided buffers. */
function run(name: BackendName, c: Case, seed: number): Results {
  const be: Backend = backend(name);
  const L = layout(c);
  const mask = keyMask(c, seed + 7);
  const buf = (values: Float32Array): Buf => {
    const storage = be.alloc(values.length);
    be.write({ storage, offset: 0 }, values);
    return { storage, offset: 0 };
  };
  // Pads hold a sentinel; the head columns random values.
  const input = (len: number, s: number) => Float32Array.from(hostRandom(len, s), (x) => x * 2);
  const qkv = c.fused ? buf(input(L.qLen, seed)) : null;
  const q = qkv ?? buf(input(L.qLen, seed)), k = qkv ?? buf(input(L.kLen, seed + 1)), v = qkv ?? buf(input(L.vLen, seed + 2));
  const outLen = c.B * c.tq * c.Hq * c.D, lseLen = c.B * c.Hq * c.tq;
  const out = buf(new Float32Array(outLen).fill(NaN)), lse = buf(new Float32Array(lseLen).fill(NaN));
  const p: AttentionParams = {
    batch: c.B, tq: c.tq, tk: c.tk, qHeads: c.Hq, kvHeads: c.Hkv, headDim: c.D, scale: 1 / Math.sqrt(c.D), causal: c.causal,
    keyMask: mask, window: c.window, softcap: c.softcap,
    q: { buf: { ...q, offset: L.qOff }, rowStride: L.qStride },
    k: { buf: { ...k, offset: L.kOff }, rowStride: L.kStride },
    v: { buf: { ...v, offset: L.vOff }, rowStride: L.vStride },
  };
  be.kernels.get('attentionForward', 'test')({ ...p, out, lse });
  const dout = buf(hostRandom(outLen, seed + 3));
  // Gradients start as garbage (they must be written, not accumulated) with sentinels in the pads.
  const garbage = (len: number) => new Float32Array(len).fill(SENTINEL);
  const dqkv = c.fused ? buf(garbage(L.qLen)) : null;
  const dq = dqkv ?? buf(garbage(L.qLen)), dk = dqkv ?? buf(garbage(L.kLen)), dv = dqkv ?? buf(garbage(L.vLen));
  be.kernels.get('attentionBackward', 'test')({
    ...p, out, lse, dout,
    dq: { buf: { ...dq, offset: L.qOff }, rowStride: L.qStride },
    dk: { buf: { ...dk, offset: L.kOff }, rowStride: L.kStride },
    dv: { buf: { ...dv, offset: L.vOff }, rowStride: L.vStride },
  });
  const read = (b: Buf, n: number) => be.read(b, n);
  const r = { out: read(out, outLen), lse: read(lse, lseLen), dq: read(dq, L.qLen), dk: read(dk, L.kLen), dv: read(dv, L.vLen) };
  for (const b of new Set([q, k, v, out, lse, dout, dq, dk, dv].map((x) => x.storage))) be.free(b);
  return r;
}

/** The pads of every strided row still hold the sentinel; no head column does. */
function expectOwnColumnsOnly(c: Case, r: Results): void {
  const L = layout(c);
  const check = (a: Float32Array, stride: number, ownStart: number, ownWidth: number) => {
    let bad = 0;
    for (let i = 0; i < a.length; i++) {
      const col = i % stride;
      const own = col >= ownStart && col < ownStart + ownWidth;
      if (own === (a[i] === SENTINEL) || Number.isNaN(a[i])) bad++;
    }
    expect(bad).toBe(0);
  };
  if (c.fused) {
    check(r.dq, L.qStride, 0, (c.Hq + 2 * c.Hkv) * c.D);
  } else {
    check(r.dq, L.qStride, 0, c.Hq * c.D);
    check(r.dk, L.kStride, 0, c.Hkv * c.D);
    check(r.dv, L.vStride, 0, c.Hkv * c.D);
  }
}

const others = backendsWithKernels('attentionForward', 'attentionBackward').filter((b) => b !== 'js');

const CASES: [string, Case][] = [
  ['single query and key', { B: 1, tq: 1, tk: 1, Hq: 1, Hkv: 1, D: 1, causal: false, mask: 'none', fused: false }],
  ['tq=tk=3, D=8, causal', { B: 2, tq: 3, tk: 3, Hq: 2, Hkv: 2, D: 8, causal: true, mask: 'none', fused: false }],
  ['tq=tk=17, D=64, GQA 8/2', { B: 1, tq: 17, tk: 17, Hq: 8, Hkv: 2, D: 64, causal: false, mask: 'none', fused: false }],
  ['tq=17, tk=3 (no causal), key mask', { B: 2, tq: 17, tk: 3, Hq: 2, Hkv: 1, D: 8, causal: false, mask: 'some', fused: false }],
  ['tq=3 tk=17 causal (KV cache offset)', { B: 2, tq: 3, tk: 17, Hq: 4, Hkv: 2, D: 17, causal: true, mask: 'none', fused: false }],
  ['tq=1 tk=17 causal, fully hidden sequence', { B: 3, tq: 1, tk: 17, Hq: 2, Hkv: 1, D: 8, causal: true, mask: 'sequence', fused: false }],
  ['tq=17 tk=3 causal (queries that see nothing)', { B: 1, tq: 17, tk: 3, Hq: 2, Hkv: 2, D: 3, causal: true, mask: 'some', fused: false }],
  ['fused qkv slices, causal, mask', { B: 2, tq: 17, tk: 17, Hq: 4, Hkv: 2, D: 8, causal: true, mask: 'sequence', fused: true }],
  ['~300 tokens, causal, GQA, fused', { B: 1, tq: 301, tk: 301, Hq: 2, Hkv: 1, D: 64, causal: true, mask: 'some', fused: true }],
  ['one kv group, 200 keys (keys split over threads)', { B: 1, tq: 40, tk: 200, Hq: 3, Hkv: 1, D: 8, causal: false, mask: 'some', fused: false }],
  ['~300 keys, 70 queries, D=1', { B: 2, tq: 70, tk: 299, Hq: 3, Hkv: 1, D: 1, causal: true, mask: 'some', fused: false }],
  // Sliding windows: lengths just below, at and above the window, and across the CPU's 32/64 and CUDA's 32 tiles.
  ['window 4, tq=tk=11, causal GQA', { B: 2, tq: 11, tk: 11, Hq: 4, Hkv: 2, D: 8, causal: true, mask: 'none', fused: false, window: 4 }],
  ['window 4, tq=tk=3 (shorter than the window)', { B: 1, tq: 3, tk: 3, Hq: 2, Hkv: 1, D: 8, causal: true, mask: 'none', fused: false, window: 4 }],
  ['window 4, tq=tk=5, key mask', { B: 2, tq: 5, tk: 5, Hq: 2, Hkv: 2, D: 5, causal: true, mask: 'some', fused: false, window: 4 }],
  ['window 1 (itself only), tq=tk=9', { B: 1, tq: 9, tk: 9, Hq: 2, Hkv: 1, D: 4, causal: true, mask: 'none', fused: false, window: 1 }],
  ['window 5, tq=3 tk=17 (KV cache offset)', { B: 2, tq: 3, tk: 17, Hq: 4, Hkv: 2, D: 17, causal: true, mask: 'none', fused: false, window: 5 }],
  ['window 5, tq=1 tk=17, hidden sequence', { B: 2, tq: 1, tk: 17, Hq: 2, Hkv: 1, D: 8, causal: true, mask: 'sequence', fused: false, window: 5 }],
  ['window 3 without causal, tq=7 tk=13', { B: 1, tq: 7, tk: 13, Hq: 2, Hkv: 1, D: 8, causal: false, mask: 'some', fused: false, window: 3 }],
  ['window 33, 131 tokens, fused', { B: 1, tq: 131, tk: 131, Hq: 2, Hkv: 1, D: 16, causal: true, mask: 'some', fused: true, window: 33 }],
  ['window 64, 197 tokens, GQA', { B: 2, tq: 197, tk: 197, Hq: 4, Hkv: 2, D: 8, causal: true, mask: 'none', fused: false, window: 64 }],
  ['window 65, 40 queries over 200 keys', { B: 1, tq: 40, tk: 200, Hq: 3, Hkv: 1, D: 8, causal: true, mask: 'some', fused: false, window: 65 }],
  ['window 63, ~300 tokens, D=64', { B: 1, tq: 301, tk: 301, Hq: 2, Hkv: 1, D: 64, causal: true, mask: 'none', fused: true, window: 63 }],
  // Logit soft-capping (scores of the inputs here reach ~6, so a cap of 2 bends them).
  ['softcap 2, tq=tk=11, causal', { B: 2, tq: 11, tk: 11, Hq: 2, Hkv: 1, D: 16, causal: true, mask: 'some', fused: false, softcap: 2 }],
  ['softcap 2, tq=3 tk=17, no causal', { B: 1, tq: 3, tk: 17, Hq: 4, Hkv: 2, D: 17, causal: false, mask: 'none', fused: false, softcap: 2 }],
  ['softcap 50 and window 4, tq=tk=11, fused', { B: 2, tq: 11, tk: 11, Hq: 4, Hkv: 2, D: 8, causal: true, mask: 'sequence', fused: true, window: 4, softcap: 50 }],
  ['softcap 1.5 and window 40, 150 tokens', { B: 1, tq: 150, tk: 150, Hq: 2, Hkv: 2, D: 32, causal: true, mask: 'some', fused: false, window: 40, softcap: 1.5 }],
];

const js = new Map<string, Results>();
function jsResults(title: string, c: Case): Results {
  if (!js.has(title)) js.set(title, run('js', c, 11));
  return js.get(title)!;
}

describe('attention on the js backend', () => {
  it.each(CASES)('%s: writes only its own columns, no NaN', (title, c) => {
    const r = jsResults(title, c);
    expectOwnColumnsOnly(c, r);
    for (const a of [r.out, r.dq, r.dk, r.dv]) expect(a.every((x) => Number.isFinite(x))).toBe(true);
  });
});

describe.each(others)('attention on %s matches the js reference', (name) => {
  const paths = name === 'native' ? cpuPaths() : [''];
  describe.each(paths)('cpu path %s', (path) => {
    it.each(CASES)('%s', (title, c) => {
      const expected = jsResults(title, c);
      const r = path ? withCpuPath(path, () => run(name, c, 11)) : run(name, c, 11);
      const tol = { atol: 2e-5 * Math.sqrt(Math.max(c.D, c.tk)), rtol: 1e-4 };
      expect(r.out).toAllClose(expected.out, tol);
      expect(r.lse).toAllClose(expected.lse, tol);
      expect(r.dq).toAllClose(expected.dq, tol);
      expect(r.dk).toAllClose(expected.dk, tol);
      expect(r.dv).toAllClose(expected.dv, tol);
      expectOwnColumnsOnly(c, r);
    });
  });

  it('a query that sees nothing: out 0, lse -Infinity, no gradient from it', () => {
    const c: Case = { B: 2, tq: 5, tk: 4, Hq: 2, Hkv: 1, D: 8, causal: true, mask: 'sequence', fused: false };
    const r = run(name, c, 5);
    // tk - tq = -1: query 0 of every sequence sees no key, and sequence 0 sees none at all.
    const lse = (b: number, h: number, i: number) => r.lse[(b * 2 + h) * 5 + i];
    for (let h = 0; h < 2; h++) {
      expect(lse(1, h, 0)).toBe(-Infinity);
      expect(Number.isFinite(lse(1, h, 4))).toBe(true);
      for (let i = 0; i < 5; i++) expect(lse(0, h, i)).toBe(-Infinity);
    }
    expect(Array.from(r.out.subarray(0, 5 * 2 * 8)).every((x) => x === 0)).toBe(true);
    const L = layout(c);
    for (let i = 0; i < 5; i++) for (let d = 0; d < 2 * 8; d++) expect(r.dq[i * L.qStride + d]).toBe(0);
    for (let j = 0; j < 4; j++) for (let d = 0; d < 8; d++) {
      expect(r.dk[j * L.kStride + d]).toBe(0);
      expect(r.dv[j * L.vStride + d]).toBe(0);
    }
    for (const a of [r.out, r.dq, r.dk, r.dv]) expect(a.some((x) => Number.isNaN(x))).toBe(false);
  });
});

// ---- the reference itself, in float64 ----

const f64 = (n: number, seed: number) => Float64Array.from(hostRandom(n, seed));

function refInputs(c: Case, seed: number): ref.AttentionInputs {
  return {
    batch: c.B, tq: c.tq, tk: c.tk, qHeads: c.Hq, kvHeads: c.Hkv, headDim: c.D, scale: 1 / Math.sqrt(c.D), causal: c.causal,
    keyMask: keyMask(c, seed + 7), window: c.window ?? 0, softcap: c.softcap ?? 0,
    q: f64(c.B * c.tq * c.Hq * c.D, seed), qStride: c.Hq * c.D,
    k: f64(c.B * c.tk * c.Hkv * c.D, seed + 1), kStride: c.Hkv * c.D,
    v: f64(c.B * c.tk * c.Hkv * c.D, seed + 2), vStride: c.Hkv * c.D,
  };
}

/** softmax(scale q k^T + mask) v with the whole [tq, tk] matrix of each head materialized. */
function naiveAttention(p: ref.AttentionInputs): Float64Array {
  const { batch: B, tq, tk, qHeads: H, kvHeads: G, headDim: D } = p;
  const out = new Float64Array(B * tq * H * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h * G / H);
      const S: number[][] = [];
      for (let i = 0; i < tq; i++) {
        S.push([]);
        for (let j = 0; j < tk; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += p.q[((b * tq + i) * H + h) * D + d] * p.k[((b * tk + j) * G + g) * D + d];
          // HF's masking_utils: causal kv_idx <= q_idx, sliding_window_overlay kv_idx > q_idx - sliding_window.
          const pos = i + tk - tq;
          const hidden = (p.causal && j > pos) || (!!p.window && !(j > pos - p.window)) ||
            (p.keyMask !== null && p.keyMask[b * tk + j] === 0);
          // Gemma 2: attn_weights / softcap, tanh, * softcap, then the mask.
          const capped = p.softcap ? p.softcap * Math.tanh((s * p.scale) / p.softcap) : s * p.scale;
          S[i].push(hidden ? -Infinity : capped);
        }
        const m = Math.max(...S[i]);
        if (m === -Infinity) continue;
        const e = S[i].map((s) => Math.exp(s - m));
        const z = e.reduce((x, y) => x + y, 0);
        for (let j = 0; j < tk; j++)
          for (let d = 0; d < D; d++) out[((b * tq + i) * H + h) * D + d] += (e[j] / z) * p.v[((b * tk + j) * G + g) * D + d];
      }
    }
  return out;
}

describe('the attention reference', () => {
  it.each(CASES.filter(([, c]) => c.tq * c.tk < 5000))('%s equals a naive materialized softmax', (_, c) => {
    const p = refInputs(c, 3);
    const out = new Float64Array(c.B * c.tq * c.Hq * c.D), lse = new Float64Array(c.B * c.Hq * c.tq);
    ref.attentionForward(p, out, lse);
    expect(out).toAllClose(naiveAttention(p), { atol: 1e-12, rtol: 1e-10 });
  });

  const GRAD_CASES: [string, Case][] = [
    ['plain', { B: 1, tq: 3, tk: 3, Hq: 1, Hkv: 1, D: 2, causal: false, mask: 'none', fused: false }],
    ['causal GQA 4/2', { B: 2, tq: 3, tk: 3, Hq: 4, Hkv: 2, D: 3, causal: true, mask: 'none', fused: false }],
    ['causal tk > tq, masked', { B: 2, tq: 2, tk: 5, Hq: 2, Hkv: 1, D: 2, causal: true, mask: 'some', fused: false }],
    ['causal tq > tk, a hidden sequence', { B: 2, tq: 4, tk: 2, Hq: 2, Hkv: 2, D: 2, causal: true, mask: 'sequence', fused: false }],
    ['window 2, tq=tk=5, GQA', { B: 1, tq: 5, tk: 5, Hq: 2, Hkv: 1, D: 2, causal: true, mask: 'none', fused: false, window: 2 }],
    ['window 3, tq=2 tk=6 (offset), masked', { B: 2, tq: 2, tk: 6, Hq: 2, Hkv: 1, D: 2, causal: true, mask: 'some', fused: false, window: 3 }],
    ['softcap 0.7', { B: 1, tq: 3, tk: 4, Hq: 2, Hkv: 2, D: 3, causal: false, mask: 'none', fused: false, softcap: 0.7 }],
    ['softcap 1.3 and window 2, causal', { B: 2, tq: 4, tk: 4, Hq: 2, Hkv: 1, D: 3, causal: true, mask: 'some', fused: false, window: 2, softcap: 1.3 }],
  ];

  it.each(GRAD_CASES)('%s: backward matches central differences of sum(out * R)', (_, c) => {
    const p = refInputs(c, 9);
    const n = c.B * c.tq * c.Hq * c.D;
    const R = f64(n, 4);
    const out = new Float64Array(n), lse = new Float64Array(c.B * c.Hq * c.tq);
    const loss = () => {
      ref.attentionForward(p, out, lse);
      let s = 0;
      for (let i = 0; i < n; i++) s += out[i] * R[i];
      return s;
    };
    loss();
    const g = {
      dq: new Float64Array(p.q.length), dqStride: p.qStride, dk: new Float64Array(p.k.length), dkStride: p.kStride,
      dv: new Float64Array(p.v.length), dvStride: p.vStride,
    };
    ref.attentionBackward(p, out.slice(), lse.slice(), R, g);
    for (const [param, grad, what] of [[p.q, g.dq, 'dq'], [p.k, g.dk, 'dk'], [p.v, g.dv, 'dv']] as const) {
      expectGradClose(grad, numericGrad(param, loss), what);
    }
  });

  it('matches PyTorch on a hand-checked causal GQA case', () => {
    // test/fixtures/attention/golden.py (torch 1.13, float64): B=1 tq=2 tk=3 Hq=2 Hkv=1 D=2, causal (offset 1), scale 1/sqrt(2),
    // s = scale q k^T masked to -inf, lse = logsumexp(s), out = softmax(s) v, loss = sum(out * R).
    const p: ref.AttentionInputs = {
      batch: 1, tq: 2, tk: 3, qHeads: 2, kvHeads: 1, headDim: 2, scale: 1 / Math.SQRT2, causal: true, keyMask: null,
      q: Float64Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6, -0.7, 0.8]), qStride: 4,
      k: Float64Array.from([0.2, 0.1, -0.3, 0.5, 0.9, -0.4]), kStride: 2,
      v: Float64Array.from([1.0, -1.0, 0.5, 2.0, -1.5, 0.25]), vStride: 2,
    };
    const R = Float64Array.from([1.0, 0.5, -0.5, 2.0, 0.25, -1.0, 1.5, 0.75]);
    const out = new Float64Array(8), lse = new Float64Array(4);
    ref.attentionForward(p, out, lse);
    const g = { dq: new Float64Array(8), dqStride: 4, dk: new Float64Array(6), dkStride: 2, dv: new Float64Array(6), dvStride: 2 };
    ref.attentionBackward(p, out, lse, R, g);
    const tol = { atol: 1e-11, rtol: 0 };
    expect(out).toAllClose([0.761482400809, 0.431105595147, 0.749116120206, 0.505303278762, -0.310462515998, 0.246216486636, 0.319717347845, 0.7471501103], tol);
    expect(lse).toAllClose([0.648241118104, 1.21936711588, 0.767399642572, 1.101470026861], tol);
    expect(g.dq).toAllClose([-0.088201889914, 0.070561511931, -0.55242026752, 0.441936214016, 0.046124282018, -0.043047999219, -0.479617264239, 0.361345786357], tol);
    expect(g.dk).toAllClose([-0.134277315416, -0.661821184661, -0.075211529948, 0.898309115742, 0.209488845364, -0.23648793108], tol);
    expect(g.dv).toAllClose([0.827684625139, 1.192986333251, 1.047336585313, 1.410879067286, 0.374978789548, -0.353865400537], tol);
  });
});
