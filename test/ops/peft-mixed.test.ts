import { matmul, NO_ADAPTER, setBackend, type Tensor } from '../../lib';
import { launchIa3Backward, launchIa3Forward } from '../../lib/ops/ia3/launch';
import { ia3MixedBackward, ia3MixedForward } from '../../lib/ops/ia3/mixed';
import { launchLoraBackward, launchLoraForward } from '../../lib/ops/lora/launch';
import { loraMixedBackward, loraMixedForward } from '../../lib/ops/lora/mixed';
import { backendsWithKernels, randomTensor } from '../helpers/backends';

const peftBackends = backendsWithKernels('loraForward', 'loraBackward', 'ia3Forward', 'ia3Backward');

describe.each(peftBackends)('several adapters in one batch on %s', (name) => {
  beforeAll(() => setBackend(name));
  const [T, K, N] = [9, 17, 5];
  const x = () => randomTensor([T, K], 1), w = () => randomTensor([N, K], 2), bias = () => randomTensor([N], 3);
  const adapters = () => [
    { a: randomTensor([2, K], 4), b: randomTensor([N, 2], 5), scale: 0.5, dropout: 0.2, seed: 8 },
    { a: randomTensor([3, K], 6), b: randomTensor([N, 3], 7), scale: 2 },
  ];
  const rowsOf = (t: Tensor, s: number, e: number) => t.slice(0, s, e).contiguous();

  it('a per-sample index gives each sample what its own adapter alone would, and the base for -1', () => {
    const X = x(), W = w(), Bs = bias(), ads = adapters(), dy = randomTensor([T, N], 9);
    // samples of 3 rows: adapter 1, none, adapter 0
    const index = [1, 1, 1, NO_ADAPTER, NO_ADAPTER, NO_ADAPTER, 0, 0, 0];
    const { y, saved } = loraMixedForward(X, W, Bs, ads, index);
    const g = loraMixedBackward(X, W, ads, saved, dy);
    const yv = y.toFloat32Array(), dxv = g.dx!.toFloat32Array();
    for (const [s, e, i] of [[0, 3, 1], [3, 6, -1], [6, 9, 0]]) {
      const xr = rowsOf(X, s, e), dyr = rowsOf(dy, s, e);
      if (i === -1) {
        expect(yv.slice(s * N, e * N)).toAllClose(matmul(xr, W.T, { bias: Bs }), { atol: 1e-6 });
        continue;
      }
      const ad = ads[i];
      const single = launchLoraForward(xr, W, Bs, ad.a, ad.b, { ...ad, rowOffset: s });
      expect(yv.slice(s * N, e * N)).toAllClose(single.y, { atol: 1e-5 });
      const sg = launchLoraBackward(xr, W, ad.a, ad.b, single.u, dyr, { ...ad, rowOffset: s });
      expect(dxv.slice(s * K, e * K)).toAllClose(sg.dx!, { atol: 1e-5 });
      expect(g.grads[i]!.da).toAllClose(sg.da, { atol: 1e-5 });
      expect(g.grads[i]!.db).toAllClose(sg.db, { atol: 1e-5 });
    }
  });

  it('with no index, all adapters are active and their gradients are those of the summed layer', () => {
    const X = x(), W = w(), ads = adapters(), dy = randomTensor([T, N], 9);
    const { y, saved } = loraMixedForward(X, W, null, ads, null);
    const g = loraMixedBackward(X, W, ads, saved, dy);
    const one = launchLoraForward(X, W, null, ads[0].a, ads[0].b, ads[0]);
    const two = launchLoraForward(X, null, null, ads[1].a, ads[1].b, ads[1], one.y);
    expect(y).toAllClose(two.y, { atol: 1e-5 });
    const g1 = launchLoraBackward(X, W, ads[1].a, ads[1].b, two.u, dy, ads[1]);
    expect(g.grads[1]!.da).toAllClose(g1.da, { atol: 1e-5 });
  });

  it('rejects an index naming an adapter that does not exist', () => {
    expect(() => loraMixedForward(x(), w(), null, adapters(), [0, 1, 2, 0, 0, 0, 0, 0, 0]))
      .toThrow('loraMixedForward: row 2 names adapter 2, expected -1 (none) or 0..1');
  });

  it('IA3 with one vector per sample matches each task alone', () => {
    const X = x(), W = w(), Bs = bias(), dy = randomTensor([T, N], 9);
    const ls = [randomTensor([N], 11), randomTensor([N], 12)];
    const index = [0, 0, 0, 1, 1, 1, NO_ADAPTER, NO_ADAPTER, NO_ADAPTER];
    const { y, yPre } = ia3MixedForward(X, W, Bs, ls, index);
    const g = ia3MixedBackward(X, W, ls, index, dy, yPre);
    for (const [s, e, i] of [[0, 3, 0], [3, 6, 1]]) {
      const xr = rowsOf(X, s, e), dyr = rowsOf(dy, s, e);
      const single = launchIa3Forward(xr, W, Bs, ls[i], 'output');
      expect(y.toFloat32Array().slice(s * N, e * N)).toAllClose(single.y, { atol: 1e-5 });
      const sg = launchIa3Backward(xr, W, ls[i], 'output', dyr, single.yPre);
      expect(g.dx.toFloat32Array().slice(s * K, e * K)).toAllClose(sg.dx!, { atol: 1e-5 });
      expect(g.dls[i]).toAllClose(sg.dl, { atol: 1e-5 });
    }
    expect(y.toFloat32Array().slice(6 * N)).toAllClose(yPre.toFloat32Array().slice(6 * N), { atol: 0 });
  });
});
