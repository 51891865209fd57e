/**
 * The cuda backend's one device copy of a frozen weight's arrays (lib/backend/cuda/frozen_arrays.ts), checked
 * against a recording stand-in for the addon: this logic decides what crosses to the device, and it runs
 * the same with or without a GPU.
 */
import { FrozenArrays } from '../../lib/backend/cuda/frozen_arrays';
import type { NativeAddon } from '../../lib/backend/native/addon';

function recordingAddon() {
  const uploads: { handle: number; values: number[] }[] = [];
  const freed: number[] = [];
  let next = 1;
  const addon = {
    cudaAlloc: (floats: number) => ({ id: next++, floats }),
    cudaUpload: (dst: [{ id: number }, number], host: Float32Array, n: number) => {
      uploads.push({ handle: dst[0].id, values: Array.from(new Uint8Array(host.buffer, host.byteOffset, n * 4)) });
    },
    cudaFree: (h: { id: number }) => { freed.push(h.id); },
  } as unknown as NativeAddon;
  return { addon, uploads, freed };
}

describe('frozen weight arrays on the device', () => {
  it('uploads each array once, padding bytes to whole float32 values, and reuses the copy on later calls', () => {
    const { addon, uploads } = recordingAddon();
    const cache = new FrozenArrays(addon);
    const bits = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const first = cache.params({ bBits: bits, bOffset: 0, m: 2 });
    const second = cache.params({ bBits: bits, bOffset: 4, m: 3 });
    expect(uploads).toEqual([{ handle: 1, values: [1, 2, 3, 4, 5, 6, 0, 0] }]);
    expect(first.bBits).toEqual([{ id: 1, floats: 2 }, 0]);
    expect(second.bBits).toBe(first.bBits);
    expect([second.bOffset, second.m]).toEqual([4, 3]);
  });

  it('swaps a packed weight\'s byte and float arrays, at the top level (dequantize) and in bQuant (gemmBf16), and nothing else', () => {
    const { addon, uploads } = recordingAddon();
    const cache = new FrozenArrays(addon);
    const data = new Uint8Array([7, 8, 9, 10]);
    const absmax = new Float32Array([0.5]);
    const ids = new Int32Array([1]);
    const top = cache.params({ format: 'nf4', n: 8, group: 8, data, absmax, nestedCodes: null, nestedAbsmax: null, offset: 0, ids });
    expect(top.data).toEqual([{ id: 1, floats: 1 }, 0]);
    expect(top.absmax).toEqual([{ id: 2, floats: 1 }, 0]);
    expect(top.nestedCodes).toBeNull();
    expect(top.ids).toBe(ids);
    const bQuant = { format: 'nf4', n: 8, group: 8, data, absmax, nestedCodes: null, nestedAbsmax: null, offset: 0 };
    const g = cache.params({ bBits: null, bQuant });
    expect(g.bQuant).toEqual({ ...bQuant, data: top.data, absmax: top.absmax });
    expect(bQuant.data).toBe(data);  // the caller's object is left as it was
    expect(uploads.length).toBe(2);
  });

  it('frees the block when an upload fails, and reports the failure', () => {
    const { addon, freed } = recordingAddon();
    (addon as unknown as { cudaUpload: () => void }).cudaUpload = () => { throw new RangeError('cudaUpload: out of memory'); };
    const cache = new FrozenArrays(addon);
    expect(() => cache.view(new Float32Array(3))).toThrow('cudaUpload: out of memory');
    expect(freed).toEqual([1]);
  });
});
