/**
 * tfjs-layers models trained with model.fit on 'peftjs' and on 'cpu' from the same weights and data: the
 * same 20 losses to 1e-4 relative; and memory: 1,000 small training steps leave numTensors flat and RSS
 * bounded.
 */
import * as tf from '@tensorflow/tfjs';
import { NATIVE_KERNELS } from '../../lib/tfjs';

/** A seeded uniform stream (mulberry32), so both backends see the same data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

type Build = () => tf.LayersModel;

const mlp: Build = () => tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [32], units: 64, activation: 'relu' }),
    tf.layers.dense({ units: 64, activation: 'tanh' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});

const convNet: Build = () => tf.sequential({
  layers: [
    tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
    tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.averagePooling2d({ poolSize: 2, strides: 1 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});

async function fitLosses(backend: string, build: Build, weights: Float32Array[] | null, xShape: number[], x: Float32Array, y: Float32Array, batch: number) {
  await tf.setBackend(backend);
  const model = build();
  if (weights) model.setWeights(model.getWeights().map((w, i) => tf.tensor(weights[i], w.shape)));
  const initial = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
  const losses: number[] = [];
  const xs = tf.tensor(x, xShape), ys = tf.tensor(y, [xShape[0], 10]);
  await model.fit(xs, ys, {
    batchSize: batch, epochs: 1, shuffle: false, verbose: 0,
    callbacks: { onBatchEnd: async (_b, logs) => { losses.push(logs!.loss as number); } },
  });
  tf.dispose([xs, ys]);
  model.dispose();
  return { losses, initial };
}

async function compare(build: Build, sampleShape: number[], batch: number) {
  const steps = 20, n = steps * batch, per = sampleShape.reduce((p, q) => p * q, 1);
  const x = randomArray(n * per, 1);
  // A learnable label: the decile of the sample's first value.
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) y[i * 10 + Math.min(9, Math.floor((x[i * per] + 1) * 5))] = 1;
  const cpu = await fitLosses('cpu', build, null, [n, ...sampleShape], x, y, batch);
  const mine = await fitLosses('peftjs', build, cpu.initial, [n, ...sampleShape], x, y, batch);
  expect(cpu.losses).toHaveLength(steps);
  expect(mine.losses).toHaveLength(steps);
  for (let i = 0; i < steps; i++) expect(Math.abs(mine.losses[i] - cpu.losses[i])).toBeLessThanOrEqual(1e-4 * Math.abs(cpu.losses[i]));
  expect(new Set(cpu.losses).size).toBeGreaterThan(steps / 2);  // the weights moved: 20 different losses
}

describe('tfjs-layers on the peftjs backend', () => {
  const warn = console.warn;
  beforeAll(() => { console.warn = () => undefined; });  // tfjs advertises tfjs-node
  afterAll(() => { console.warn = warn; });

  it('registers the backend with its native kernels', async () => {
    expect(tf.engine().registryFactory.peftjs).toBeDefined();
    await tf.setBackend('peftjs');
    expect(tf.getBackend()).toBe('peftjs');
    for (const k of ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Add', 'Softmax', 'Sum'])
      expect(NATIVE_KERNELS).toContain(k);
  });

  it('a Dense MLP: model.fit gives cpu\'s losses over 20 steps', async () => {
    await compare(mlp, [32], 16);
  }, 120_000);

  it('a small conv net: model.fit gives cpu\'s losses over 20 steps', async () => {
    await compare(convNet, [12, 12, 1], 8);
  }, 120_000);

  it('keeps tfjs\'s errors for bad input', async () => {
    await tf.setBackend('peftjs');
    expect(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 5]))).toThrow(/inner shapes \(3\) and \(4\)/);
    expect(() => tf.add(tf.ones([2, 3]), tf.ones([4, 5]))).toThrow(/Operands could not be broadcast together/);
    expect(() => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 3, 1]) as tf.Tensor4D, 1, 'same')).toThrow();
  });

  it('1,000 training steps: numTensors flat, RSS bounded', async () => {
    await tf.setBackend('peftjs');
    const model = mlp();
    const opt = tf.train.adam(1e-3);
    const xs = tf.tensor(randomArray(16 * 32, 3), [16, 32]), ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5], 'int32'), 10);
    const step = () => opt.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.predict(xs) as tf.Tensor) as tf.Scalar, false);
    for (let i = 0; i < 50; i++) step();
    const global = globalThis as { gc?: () => void };
    global.gc?.();
    const tensors = tf.memory().numTensors, bytes = tf.memory().numBytes, rss = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) step();
    global.gc?.();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
    tf.dispose([xs, ys]);
    model.dispose();
    opt.dispose();
  }, 120_000);
});
