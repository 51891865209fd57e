/**
 * The 'peftjs' overrides against tfjs's 'cpu' backend on shapes the tfjs-core suite leaves out (sizes past
 * the output pool's threshold, odd broadcasts, non-contiguous slices, gather with batch dims), and the
 * output pool's rule: an array that reached the user (dataSync, data, arraySync, backend.data.get) is never
 * handed to another tensor, while arrays of tensors nobody read are recycled.
 */
import * as tf from '@tensorflow/tfjs';
import { emptyPool, poolStats, POOL_MIN_FLOATS, setFreshOutputFill } from '../../lib/tfjs/memory';
import '../../lib/tfjs';
import { tfjsAddon } from '../../lib/tfjs/native';

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

function rand(shape: number[], seed: number): tf.Tensor {
  const r = rng(seed), n = shape.reduce((a, b) => a * b, 1), v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = r() * 2 - 1;
  return tf.tensor(v, shape);
}

/** f's result on 'cpu' and on 'peftjs' (same inputs, made on each backend from the same seeds). */
async function both(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[], number[][]]> {
  const run = async (backend: string): Promise<[Float32Array[], number[][]]> => {
    await tf.setBackend(backend);
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => Float32Array.from(t.dataSync()));
    const shapes = list.map((t) => t.shape);
    tf.dispose(list);
    return [values, shapes];
  };
  const [cpu, cpuShapes] = await run('cpu');
  const [mine, shapes] = await run('peftjs');
  expect(shapes).toEqual(cpuShapes);
  return [cpu, mine, shapes];
}

function expectClose(a: Float32Array, b: Float32Array, tol = 1e-5): void {
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) throw new Error(`NaN mismatch at ${i}: ${a[i]} vs ${b[i]}`);
    if (!Number.isNaN(a[i])) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

async function same(f: () => tf.Tensor | tf.Tensor[], tol = 1e-5): Promise<void> {
  const [cpu, mine] = await both(f);
  cpu.forEach((c, i) => expectClose(c, mine[i], tol));
}

afterAll(async () => { await tf.setBackend('cpu'); });

describe('peftjs kernels against cpu', () => {
  beforeAll(() => { console.warn = () => undefined; });

  it('broadcasting binary ops on odd shapes, pooled and not', async () => {
    for (const [sa, sb] of [[[3, 1, 5, 7], [4, 1, 7]], [[64, 1, 129], [1, 33, 1]], [[2, 3, 1, 1, 5], [5]], [[1], [70, 70]], [[513, 9], [513, 1]]]) {
      await same(() => [tf.add(rand(sa, 1), rand(sb, 2)), tf.sub(rand(sa, 3), rand(sb, 4)), tf.mul(rand(sa, 5), rand(sb, 6)),
        tf.div(rand(sa, 7), rand(sb, 8)), tf.maximum(rand(sa, 9), rand(sb, 10)), tf.squaredDifference(rand(sa, 11), rand(sb, 12))]);
    }
  });

  it('GatherV2 on each axis, with batch dims, and tfjs\'s error on a bad index', async () => {
    await same(() => tf.gather(rand([300, 40], 1), tf.tensor1d([5, 0, 299, 5, 17], 'int32')));
    await same(() => tf.gather(rand([7, 300, 11], 2), tf.tensor1d([3, 299, 0], 'int32'), 1));
    await same(() => tf.gather(rand([7, 9, 600], 3), tf.tensor2d([[1, 2], [3, 599]], [2, 2], 'int32'), 2));
    await same(() => tf.gather(rand([4, 50, 30], 4), tf.tensor2d([[1, 2, 3], [0, 0, 49], [7, 8, 9], [10, 11, 12]], [4, 3], 'int32'), 1, 1));
    await tf.setBackend('peftjs');
    expect(() => tf.gather(tf.ones([4, 3]), tf.tensor1d([4], 'int32'))).toThrow(/GatherV2: the index value 4 is not in \[0, 3\]/);
  });

  it('Slice (strided and contiguous), Concat on each axis, PadV2, ZerosLike', async () => {
    await same(() => [tf.slice(rand([8, 256, 512], 1), [0, 0, 7], [8, 256, 1]), tf.slice(rand([5, 6, 7, 8], 2), [1, 2, 3, 4], [3, 3, 3, 3]),
      tf.slice(rand([64, 130], 3), [3, 0], [40, 130]), tf.slice(rand([3, 4], 4), [1, 1], [0, 2])]);
    for (const axis of [0, 1, 2, -1]) {
      await same(() => tf.concat([rand([6, 70, 9], 1), rand([6, 70, 9], 2), rand([6, 70, 9], 3)], axis));
    }
    await same(() => tf.concat([rand([6, 0, 9], 1), rand([6, 70, 9], 2), rand([6, 3, 9], 3)], 1));
    await same(() => [tf.pad(rand([30, 40, 5], 1), [[1, 2], [0, 3], [4, 0]], 1.5), tf.pad(rand([3, 1], 2), [[0, 0], [2, 2]])]);
    await same(() => tf.zerosLike(rand([100, 100], 5)));
  });

  it('FusedBatchNorm with short and full-size moments, with and without offset and scale', async () => {
    await same(() => [
      tf.batchNorm(rand([40, 30, 16], 1), rand([16], 2), tf.abs(rand([16], 3)), rand([16], 4), rand([16], 5), 1e-3),
      tf.batchNorm(rand([40, 30, 16], 6), rand([16], 7), tf.abs(rand([16], 8))),
      tf.batchNorm(rand([8, 64, 32], 9), rand([8, 64, 32], 10), tf.abs(rand([8, 64, 32], 11)), rand([8, 64, 32], 12), rand([8, 64, 32], 13), 1e-5),
    ], 1e-6);
  });

  it('depthwise convolution (multipliers 1 and 2, strides, padding, dilation), fused, and its two gradients', async () => {
    for (const [mul, stride, pad, dil] of [[1, 1, 'same', 1], [2, 2, 'valid', 1], [1, 1, 'valid', 2], [3, 2, 'same', 1]] as Array<[number, number, 'same' | 'valid', number]>) {
      const x = (): tf.Tensor4D => rand([3, 11, 13, 5], 1) as tf.Tensor4D, w = (): tf.Tensor4D => rand([3, 3, 5, mul], 2) as tf.Tensor4D;
      await same(() => tf.depthwiseConv2d(x(), w(), stride, pad, 'NHWC', dil));
      if (dil === 1) {
        await same(() => {
          const dy = rand(tf.depthwiseConv2d(x(), w(), stride, pad).shape, 3);
          return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), dy)))([x(), w()]);
        }, 1e-4);
      }
      await same(() => tf.fused.depthwiseConv2d({ x: x(), filter: w(), strides: stride, pad, dilations: dil, bias: rand([5 * mul], 4), activation: 'relu' }));
    }
  });

  it('EluGrad through tf.grads of elu, NaN kept', async () => {
    await same(() => tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.elu(a), rand([70, 90], 2))))([rand([70, 90], 1)]));
    await same(() => tf.grad((a: tf.Tensor) => tf.sum(tf.elu(a)))(tf.tensor1d([-2, -0.5, 0, 0.5, NaN, -Infinity])));
  });

  it('reductions over middle and split axes, softmax, transpose, tile', async () => {
    await same(() => [tf.sum(rand([9, 70, 33], 1), 1), tf.mean(rand([9, 70, 33], 2), [0, 2]), tf.max(rand([9, 70, 33], 3), [0, 2], true),
      tf.softmax(rand([17, 300], 4)), tf.transpose(rand([5, 6, 70], 5), [2, 0, 1]), tf.tile(rand([3, 1, 50], 6), [2, 40, 1]),
      tf.tile(rand([8, 256, 1], 7), [1, 1, 512]), tf.tile(rand([1, 1, 512], 8), [8, 256, 1]), tf.tile(rand([1, 1], 9), [70, 80])]);
  });
});

describe('every native kernel writes every element of its output', () => {
  // Fresh outputs are not zero-filled (nor are recycled ones): here each starts as NaN, so an element a
  // kernel skips shows up against cpu. Sizes are past POOL_MIN_FLOATS, where that rule applies.
  beforeAll(() => { console.warn = () => undefined; emptyPool(); setFreshOutputFill(NaN); });
  afterAll(() => setFreshOutputFill(null));

  it('matmul (also k = 0), convolutions and pools with their gradients', async () => {
    const x = () => rand([4, 20, 20, 3], 11), w = () => rand([3, 3, 3, 16], 12), dw = () => rand([3, 3, 3, 2], 13);
    await same(() => [tf.matMul(rand([70, 90], 14), rand([90, 80], 15)), tf.matMul(tf.zeros([70, 0]), tf.zeros([0, 80])),
      tf.conv2d(x() as tf.Tensor4D, w() as tf.Tensor4D, 1, 'same'), tf.depthwiseConv2d(x() as tf.Tensor4D, dw() as tf.Tensor4D, 1, 'same'),
      tf.maxPool(rand([4, 40, 40, 8], 16) as tf.Tensor4D, 2, 2, 'valid'), tf.avgPool(rand([4, 40, 40, 8], 17) as tf.Tensor4D, 3, 1, 'same')]);
    await same(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same').sum())([x(), w()]));
    await same(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid').sum())([x(), dw()]));
    await same(() => tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid').sum())(rand([4, 40, 40, 8], 18)));
    await same(() => tf.grad((a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, 3, 2, 'same').sum())(rand([4, 40, 40, 8], 19)));
  });

  it('elementwise, batch norm, gather, slice, concat, pad, zeros, reductions, softmax, transpose, tile', async () => {
    const a = () => rand([70, 90], 21);
    await same(() => [tf.add(a(), rand([90], 22)), tf.relu(a()), tf.batchNorm(a(), rand([90], 23), tf.abs(rand([90], 24)).add(0.5)),
      tf.gather(a(), tf.tensor1d([3, 1, 69, 0, 5, 5, 8, 2, 7, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'int32')),
      tf.slice(a(), [1, 2], [60, 80]), tf.concat([a(), a()], 1), tf.pad(a(), [[3, 4], [5, 6]], 2), tf.zerosLike(a()),
      tf.sum(rand([70, 90, 3], 25), 2), tf.softmax(a()), tf.transpose(a()), tf.tile(a(), [2, 1])]);
  });
});

describe('populating a fresh output\'s pages', () => {
  it('keeps the contents, reports whether the system did it, and names a bad argument', () => {
    const out = new Float32Array((5 << 20) / 4 + 3).fill(3);  // whole 2 MiB pieces inside, ragged ends
    const done = tfjsAddon().tfjsPopulatePages({ out });
    expect(typeof done).toBe('boolean');
    if (process.platform === 'linux') process.stdout.write(`MADV_POPULATE_WRITE on this kernel: ${done ? 'yes' : 'no (pages fault in on first touch)'}\n`);
    expect(out.every((v) => v === 3)).toBe(true);
    expect(tfjsAddon().tfjsPopulatePages({ out: new Float32Array(0) })).toBe(false);
    expect(() => tfjsAddon().tfjsPopulatePages({ out: 3 as unknown as Float32Array })).toThrow(/tfjsPopulatePages: argument 'out' must be a typed array, got number/);
  });
});

describe('output pool', () => {
  beforeAll(async () => { await tf.setBackend('peftjs'); });

  it('never recycles an array that reached the user', async () => {
    const n = POOL_MIN_FLOATS * 4;
    const a = tf.fill([n], 2), b = tf.fill([n], 3);
    const y1 = tf.add(a, b);
    const viaSync = y1.dataSync();
    const y2 = tf.mul(a, b);
    const viaAsync = await y2.data();
    const y3 = tf.sub(a, b);
    const viaBackend = (tf.backend() as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(y3.dataId).values;
    const y4 = tf.div(a, b);
    const viaSlice = tf.slice(y4, [8], [n - 16]);  // a contiguous slice: a view of y4's array
    tf.dispose([y1, y2, y3, y4]);
    // Many new outputs of the same size: with recycling they would land in the arrays above.
    for (let i = 0; i < 20; i++) tf.dispose(tf.tidy(() => tf.add(tf.mul(a, -7), 100)));
    expect(viaSync.every((v) => v === 5)).toBe(true);
    expect(viaAsync.every((v) => v === 6)).toBe(true);
    expect(viaBackend.every((v) => v === -1)).toBe(true);
    expect(viaSlice.dataSync().every((v) => Math.abs(v - 2 / 3) < 1e-6)).toBe(true);
    tf.dispose([a, b, viaSlice]);
  });

  it('recycles the arrays of tensors nobody read, and outputs stay correct', () => {
    const n = POOL_MIN_FLOATS * 2 + 3;
    const x = tf.fill([n], 1.5);
    poolStats(true);
    let y = tf.clone(x);
    for (let i = 0; i < 50; i++) {
      const next = tf.tidy(() => tf.add(tf.mul(y, 2), -1.5));  // y -> 2y - 1.5 keeps 1.5
      y.dispose();
      y = next;
    }
    const s = poolStats(true);
    expect(s.pooled).toBeGreaterThanOrEqual(100);
    expect(s.recycled).toBeGreaterThanOrEqual(s.pooled - 2);
    expect(y.dataSync().every((v) => v === 1.5)).toBe(true);
    tf.dispose([x, y]);
  });

  it('keeps data moved to another backend', async () => {
    const n = POOL_MIN_FLOATS * 3;
    const y = tf.tidy(() => tf.add(tf.fill([n], 1), tf.fill([n], 2)));
    await tf.setBackend('cpu');
    const z = tf.add(y, 1);  // moves y's data to cpu
    await tf.setBackend('peftjs');
    tf.dispose(tf.tidy(() => [tf.add(tf.fill([n], 7), 1), tf.add(tf.fill([n], 8), 1)]));
    expect(y.dataSync().every((v) => v === 3)).toBe(true);
    expect(z.dataSync().every((v) => v === 4)).toBe(true);
    tf.dispose([y, z]);
  });
});
