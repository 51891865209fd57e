/**
 * The LSTM P-tuning uses (lib/nn/layers/lstm.ts), written with autograd ops: PyTorch's numbers for a
 * 2-layer bidirectional torch.nn.LSTM, and float64 finite-difference checks of its gradients.
 */
import { copyInto, fromArray, LSTM, lstmDirection, setBackend } from '../../lib';
import { gradcheck, inFloat64 } from '../helpers/gradcheck';

// torch 1.13, float64: torch.nn.LSTM(3, 2, num_layers=2, bidirectional=True, batch_first=True), parameter k
// (in named_parameters order) element j = cos(0.37 j + k) / 2, x[i] = 0.8 sin(0.7 i + 0.3), x of shape [2, 4, 3].
const TORCH_OUTPUT = [
  0.206723889635, 0.238971245562, -0.162563680492, -0.135971082616, 0.294947556924, 0.354619052423, -0.141640832044, -0.134468840977,
  0.329566248518, 0.412709211811, -0.129204503175, -0.125604094216, 0.349989037038, 0.419600229420, -0.124921319342, -0.110246685419,
  0.180861869950, 0.233616710284, -0.144332606057, -0.136186637392, 0.274567174589, 0.349145060669, -0.136503701825, -0.131767727041,
  0.329952977266, 0.387435872206, -0.156383411068, -0.130794276110, 0.353822532861, 0.435412242065, -0.115829269223, -0.108001446556,
];

function torchLikeLstm(): LSTM {
  const lstm = new LSTM(3, 2, { numLayers: 2, bidirectional: true });
  lstm.namedParameters().forEach(([, p], k) => copyInto(p, fromArray(Array.from({ length: p.size }, (_, j) => Math.cos(0.37 * j + k) * 0.5), p.shape)));
  return lstm;
}

const input = () => fromArray(Array.from({ length: 24 }, (_, i) => Math.sin(0.7 * i + 0.3) * 0.8), [2, 4, 3]);

describe('LSTM', () => {
  it('has PyTorch\'s parameter names and shapes', () => {
    setBackend('native');
    const lstm = new LSTM(3, 2, { numLayers: 2, bidirectional: true });
    expect(lstm.namedParameters().map(([n, t]) => `${n} [${t.shape.join(', ')}]`)).toEqual([
      'weight_ih_l0 [8, 3]', 'weight_hh_l0 [8, 2]', 'bias_ih_l0 [8]', 'bias_hh_l0 [8]',
      'weight_ih_l0_reverse [8, 3]', 'weight_hh_l0_reverse [8, 2]', 'bias_ih_l0_reverse [8]', 'bias_hh_l0_reverse [8]',
      'weight_ih_l1 [8, 4]', 'weight_hh_l1 [8, 2]', 'bias_ih_l1 [8]', 'bias_hh_l1 [8]',
      'weight_ih_l1_reverse [8, 4]', 'weight_hh_l1_reverse [8, 2]', 'bias_ih_l1_reverse [8]', 'bias_hh_l1_reverse [8]',
    ]);
    // PyTorch's init: U(-1/sqrt(H), 1/sqrt(H)).
    for (const t of lstm.parameters()) for (const v of t.toFloat32Array()) expect(Math.abs(v)).toBeLessThanOrEqual(1 / Math.sqrt(2));
  });

  it.each(['js', 'native'] as const)('2 layers, bidirectional: PyTorch\'s output on %s', (name) => {
    setBackend(name);
    const out = torchLikeLstm().forward(input());
    expect(out.shape).toEqual([2, 4, 4]);
    expect(out).toAllClose(TORCH_OUTPUT, { atol: 1e-6 });
  });

  it('float64: PyTorch\'s output to 1e-11', () => {
    inFloat64(() => expect(torchLikeLstm().forward(input())).toAllClose(TORCH_OUTPUT, { atol: 1e-11 }));
  });

  it.each([false, true])('one direction (reverse %s): gradients of x and every weight against finite differences', (reverse) => {
    const err = gradcheck({
      inputs: [{ shape: [2, 3, 4] }, { shape: [12, 4] }, { shape: [12, 3] }, { shape: [12] }, { shape: [12] }],
      fn: (x, wih, whh, bih, bhh) => lstmDirection(x, { wih, whh, bih, bhh }, reverse),
    });
    expect(err).toBeLessThan(1e-5);
  });

  it('the whole module (2 layers, bidirectional): gradients reach the input through every step', () => {
    const err = gradcheck({
      inputs: [{ shape: [1, 3, 3] }],
      fn: (x) => torchLikeLstm().forward(x),
    });
    expect(err).toBeLessThan(1e-5);
  });

  it('a wrong input width is an error naming the shapes', () => {
    setBackend('native');
    expect(() => new LSTM(3, 2).forward(fromArray([1, 2], [1, 1, 2]))).toThrow(/LSTM: expected input \[B, T, 3\], got \[1, 1, 2\]/);
    expect(() => new LSTM(3, 0)).toThrow(/LSTM: sizes must be positive integers/);
  });
});
