/** The attention kernels in the bad-input harness. */
import type { Buf } from '../../../lib';
import type { KernelCase } from './case';

// Each change appears once per field with NaN or an infinity: the harness names a variant by its JSON, where both are null.
// batch 2, tq 3, tk 4, qHeads 4, kvHeads 2, headDim 2: q rows 8 wide, k/v rows 4 wide.
const view = (buf: Buf, rowStride: number) => ({ buf, rowStride });
const inputs = (b: (n: number) => Buf) => ({
  batch: 2, tq: 3, tk: 4, qHeads: 4, kvHeads: 2, headDim: 2, scale: 0.5, causal: true, keyMask: new Int32Array(8).fill(1),
  q: view(b(48), 8), k: view(b(32), 4), v: view(b(32), 4),
});

/** The checks both directions share: the q, k, v views, head counts, scale, causal, window, softcap and the key mask. */
const SHARED_RANGES: KernelCase['ranges'] = [
  [{ kvHeads: 3 }, 'kvHeads must be at least 1 and divide qHeads, got qHeads 4 and kvHeads 3'],
  [{ kvHeads: 0 }, 'kvHeads must be at least 1 and divide qHeads, got qHeads 4 and kvHeads 0'],
  [{ qHeads: 0 }, 'kvHeads must be at least 1 and divide qHeads, got qHeads 0 and kvHeads 2'],
  [{ headDim: 0 }, 'headDim must be at least 1, got 0'],
  [{ scale: Infinity }, 'scale must be finite, got Infinity'],
  [{ scale: '0.5' }, "argument 'scale' must be a number, got string"],
  [{ causal: 'yes' }, "argument 'causal' must be a boolean, got string"],
  [{ window: -1 }, "argument 'window' must be a non-negative integer, got -1"],
  [{ window: 2.5 }, "argument 'window' must be a non-negative integer, got 2.5"],
  [{ window: '4' }, "argument 'window' must be a number, got string"],
  [{ window: null }, "argument 'window' must be a number, got null"],
  [{ softcap: -1 }, 'softcap must be a finite number >= 0 (0: none), got -1'],
  [{ softcap: Infinity }, 'softcap must be a finite number >= 0 (0: none), got Infinity'],
  [{ softcap: '30' }, "argument 'softcap' must be a number, got string"],
  [{ keyMask: new Int32Array(7) }, "argument 'keyMask' has 7 elements, expected at least batch * tk = 8"],
  [{ keyMask: new Float32Array(8) }, "argument 'keyMask' must be an Int32Array or null, got Float32Array"],
  [{ keyMask: [1, 1, 1, 1, 1, 1, 1, 1] }, "argument 'keyMask' must be an Int32Array or null, got Array"],
  [{ q: null }, "argument 'q' must be an object, got null"],
  [{ k: 4 }, "argument 'k' must be an object, got number 4"],
  [{ v: { rowStride: -1 } }, "argument 'v.rowStride' must be a non-negative integer, got -1"],
  [{ k: { rowStride: '4' } }, "argument 'k.rowStride' must be a number, got string"],
  [{ q: { rowStride: 7 } }, "rowStride of 'q' is 7, expected at least qHeads * headDim = 8"],
];

export const ATTENTION_CASES: KernelCase[] = [
  {
    kernel: 'attentionForward',
    params: (b) => ({ ...inputs(b), out: b(48), lse: b(24) }),
    dims: ['batch', 'tq', 'tk', 'qHeads', 'kvHeads', 'headDim'],
    bufs: ['out', 'lse'],
    ranges: SHARED_RANGES,
  },
  {
    kernel: 'attentionBackward',
    params: (b) => ({ ...inputs(b), out: b(48), lse: b(24), dout: b(48), dq: view(b(48), 8), dk: view(b(32), 4), dv: view(b(32), 4) }),
    dims: ['batch', 'tq', 'tk', 'qHeads', 'kvHeads', 'headDim'],
    bufs: ['out', 'lse', 'dout'],
    ranges: [
      ...SHARED_RANGES,
      [{ dk: { rowStride: 3 } }, "rowStride of 'dk' is 3, expected at least kvHeads * headDim = 4"],
      [{ dv: null }, "argument 'dv' must be an object, got null"],
    ],
  },
];
