/**
 * The golden model fixtures (test/fixtures/models, made by make_model_fixtures.py) in the format the
 * model tests rely on: HF config keys, HF state-dict names and layouts in model.safetensors, and a
 * golden.safetensors whose grad./adamw3. keys are exactly the parameters, with a loss that plain loops
 * recompute from its logits and labels. Read through lib/io, as the model tests will.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile, type RawTensor, type TensorInfo } from '../../lib/io';

const ROOT = path.resolve(__dirname, '../fixtures/models');
const MODELS = ['llama', 'gpt2', 'bert'] as const;
type ModelName = (typeof MODELS)[number];
type Config = Record<string, unknown>;

function readConfig(name: ModelName): Config {
  return JSON.parse(fs.readFileSync(path.join(ROOT, name, 'config.json'), 'utf8')) as Config;
}

function num(c: Config, key: string): number {
  const v = c[key];
  if (typeof v !== 'number') throw new Error(`config.${key}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Every parameter's HF name and shape, derived from the config as HF's modules would create them. */
function expectedParameters(name: ModelName, c: Config): Map<string, number[]> {
  const s = new Map<string, number[]>();
  if (name === 'llama') {
    const h = num(c, 'hidden_size'), i = num(c, 'intermediate_size'), v = num(c, 'vocab_size');
    const kv = num(c, 'num_key_value_heads') * (h / num(c, 'num_attention_heads'));
    s.set('model.embed_tokens.weight', [v, h]).set('model.norm.weight', [h]).set('lm_head.weight', [v, h]);
    for (let n = 0; n < num(c, 'num_hidden_layers'); n++) {
      const p = `model.layers.${n}.`;
      s.set(`${p}input_layernorm.weight`, [h]).set(`${p}post_attention_layernorm.weight`, [h]);
      s.set(`${p}self_attn.q_proj.weight`, [h, h]).set(`${p}self_attn.k_proj.weight`, [kv, h]);
      s.set(`${p}self_attn.v_proj.weight`, [kv, h]).set(`${p}self_attn.o_proj.weight`, [h, h]);
      s.set(`${p}mlp.gate_proj.weight`, [i, h]).set(`${p}mlp.up_proj.weight`, [i, h]).set(`${p}mlp.down_proj.weight`, [h, i]);
    }
  } else if (name === 'gpt2') {
    // Conv1D weights are [in, out]; lm_head is tied to wte and not stored.
    const h = num(c, 'n_embd'), v = num(c, 'vocab_size'), inner = c.n_inner === null ? 4 * h : num(c, 'n_inner');
    s.set('transformer.wte.weight', [v, h]).set('transformer.wpe.weight', [num(c, 'n_positions'), h]);
    s.set('transformer.ln_f.weight', [h]).set('transformer.ln_f.bias', [h]);
    for (let n = 0; n < num(c, 'n_layer'); n++) {
      const p = `transformer.h.${n}.`;
      for (const ln of ['ln_1', 'ln_2']) s.set(`${p}${ln}.weight`, [h]).set(`${p}${ln}.bias`, [h]);
      s.set(`${p}attn.c_attn.weight`, [h, 3 * h]).set(`${p}attn.c_attn.bias`, [3 * h]);
      s.set(`${p}attn.c_proj.weight`, [h, h]).set(`${p}attn.c_proj.bias`, [h]);
      s.set(`${p}mlp.c_fc.weight`, [h, inner]).set(`${p}mlp.c_fc.bias`, [inner]);
      s.set(`${p}mlp.c_proj.weight`, [inner, h]).set(`${p}mlp.c_proj.bias`, [h]);
    }
  } else {
    const h = num(c, 'hidden_size'), i = num(c, 'intermediate_size'), labels = Object.keys(c.id2label as object).length;
    const e = 'bert.embeddings.';
    s.set(`${e}word_embeddings.weight`, [num(c, 'vocab_size'), h]);
    s.set(`${e}position_embeddings.weight`, [num(c, 'max_position_embeddings'), h]);
    s.set(`${e}token_type_embeddings.weight`, [num(c, 'type_vocab_size'), h]);
    s.set(`${e}LayerNorm.weight`, [h]).set(`${e}LayerNorm.bias`, [h]);
    for (let n = 0; n < num(c, 'num_hidden_layers'); n++) {
      const p = `bert.encoder.layer.${n}.`;
      const linears: [string, number, number][] = [['attention.self.query', h, h], ['attention.self.key', h, h],
        ['attention.self.value', h, h], ['attention.output.dense', h, h], ['intermediate.dense', i, h], ['output.dense', h, i]];
      for (const [l, out, inp] of linears) s.set(`${p}${l}.weight`, [out, inp]).set(`${p}${l}.bias`, [out]);
      for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) s.set(`${p}${ln}.weight`, [h]).set(`${p}${ln}.bias`, [h]);
    }
    s.set('bert.pooler.dense.weight', [h, h]).set('bert.pooler.dense.bias', [h]);
    s.set('classifier.weight', [labels, h]).set('classifier.bias', [labels]);
  }
  return s;
}

const BATCH: Record<ModelName, { b: number; t: number; ids: string[] }> = {
  llama: { b: 2, t: 7, ids: ['input_ids', 'attention_mask', 'labels'] },
  gpt2: { b: 2, t: 6, ids: ['input_ids', 'attention_mask', 'labels'] },
  bert: { b: 3, t: 5, ids: ['input_ids', 'attention_mask', 'labels', 'token_type_ids'] },
};

function open<T>(file: string, fn: (f: SafetensorsFile) => T): T {
  const f = SafetensorsFile.open(file);
  try {
    return fn(f);
  } finally {
    f.close();
  }
}

function floats(f: SafetensorsFile, name: string): Float32Array {
  const t = f.load(name);
  try {
    return t.toFloat32Array();
  } finally {
    t.dispose();
  }
}

function ints(f: SafetensorsFile, name: string): number[] {
  const raw: RawTensor = f.loadRaw(name);
  expect(raw.dtype).toBe('I64');
  return Array.from(raw.data as BigInt64Array, Number);
}

/** log-sum-exp of row r of a [rows, v] matrix minus its entry at `target`, in float64. */
function crossEntropy(logits: Float32Array, v: number, r: number, target: number): number {
  let max = -Infinity;
  for (let j = 0; j < v; j++) max = Math.max(max, logits[r * v + j]);
  let sum = 0;
  for (let j = 0; j < v; j++) sum += Math.exp(logits[r * v + j] - max);
  return max + Math.log(sum) - logits[r * v + target];
}

describe.each(MODELS)('%s fixture', (name) => {
  const dir = path.join(ROOT, name);
  const config = readConfig(name);
  const params = expectedParameters(name, config);
  const { b, t, ids } = BATCH[name];

  test('config.json has the HF architecture and model type', () => {
    const arch = { llama: 'LlamaForCausalLM', gpt2: 'GPT2LMHeadModel', bert: 'BertForSequenceClassification' }[name];
    expect(config.architectures).toEqual([arch]);
    expect(config.model_type).toBe(name);
    expect(config.torch_dtype).toBe('float32');
  });

  test('model.safetensors holds exactly the HF parameters, F32, with the shapes the config implies', () => {
    const list = open(path.join(dir, 'model.safetensors'), (f) => {
      expect(f.metadata).toEqual({ format: 'pt' });
      return f.list();
    });
    expect(list.map((e) => e.name).sort()).toEqual([...params.keys()].sort());
    for (const e of list) {
      expect(e.dtype).toBe('F32');
      expect([e.name, e.shape]).toEqual([e.name, params.get(e.name)]);
    }
  });

  test('golden.safetensors: the batch, logits, loss and a grad. and adamw3. entry for every parameter', () => {
    const list: TensorInfo[] = open(path.join(dir, 'golden.safetensors'), (f) => f.list());
    const byName = new Map(list.map((e) => [e.name, e]));
    const expected = [...ids, 'logits', 'loss', ...[...params.keys()].flatMap((p) => [`grad.${p}`, `adamw3.${p}`])];
    expect([...byName.keys()].sort()).toEqual(expected.sort());
    for (const id of ids) {
      expect(byName.get(id)?.dtype).toBe('I64');
      expect(byName.get(id)?.shape).toEqual(id === 'labels' && name === 'bert' ? [b] : [b, t]);
    }
    const v = name === 'bert' ? Object.keys(config.id2label as object).length : num(config, 'vocab_size');
    expect(byName.get('logits')?.shape).toEqual(name === 'bert' ? [b, v] : [b, t, v]);
    expect(byName.get('loss')?.shape).toEqual([1]);
    for (const [p, shape] of params) {
      for (const kind of ['grad', 'adamw3']) {
        expect(byName.get(`${kind}.${p}`)?.dtype).toBe('F32');
        expect([p, byName.get(`${kind}.${p}`)?.shape]).toEqual([p, shape]);
      }
    }
  });

  test('files follow the Rust writer: I64 before F32, names sorted, header padded with spaces to 8 bytes', () => {
    for (const file of ['model.safetensors', 'golden.safetensors']) {
      const bytes = fs.readFileSync(path.join(dir, file));
      const n = Number(bytes.readBigUInt64LE(0));
      expect(n % 8).toBe(0);
      const text = bytes.subarray(8, 8 + n).toString('utf8');
      expect(text.startsWith('{"__metadata__":{"format":"pt"},')).toBe(true);
      const body = text.replace(/ +$/, '');
      expect(body.endsWith('}')).toBe(true);
      expect(n - Buffer.byteLength(body)).toBeLessThan(8);
      const order = open(path.join(dir, file), (f) => f.list());
      const rank = (e: TensorInfo) => (e.dtype === 'I64' ? 0 : 1);
      const sorted = [...order].sort((x, y) => rank(x) - rank(y) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      expect(order.map((e) => e.name)).toEqual(sorted.map((e) => e.name));
    }
  });

  test('the batch: ids in range, labels -100 only where HF ignores them, padding as described', () => {
    open(path.join(dir, 'golden.safetensors'), (f) => {
      const input = ints(f, 'input_ids'), mask = ints(f, 'attention_mask'), labels = ints(f, 'labels');
      const vocab = num(config, 'vocab_size');
      expect(input.every((x) => Number.isInteger(x) && x >= 0 && x < vocab)).toBe(true);
      expect(mask.every((x) => x === 0 || x === 1)).toBe(true);
      const padded = mask.filter((x) => x === 0).length;
      expect(padded).toBe({ llama: 0, gpt2: 2, bert: 3 }[name]);
      if (name === 'bert') {
        expect(labels.every((x) => x >= 0 && x < 3)).toBe(true);
        const tt = ints(f, 'token_type_ids');
        expect(new Set(tt)).toEqual(new Set([0, 1]));
      } else {
        labels.forEach((l, i) => expect(l === -100 || l === input[i]).toBe(true));
        mask.forEach((m, i) => m === 0 && expect(labels[i]).toBe(-100));
        expect(labels.some((l) => l === -100)).toBe(true);
      }
    });
  });

  test('the loss recomputed from the golden logits and labels with plain loops matches to 1e-5', () => {
    open(path.join(dir, 'golden.safetensors'), (f) => {
      const logits = floats(f, 'logits'), labels = ints(f, 'labels'), loss = floats(f, 'loss')[0];
      let total = 0, count = 0;
      if (name === 'bert') {
        const v = logits.length / b;
        for (let r = 0; r < b; r++, count++) total += crossEntropy(logits, v, r, labels[r]);
      } else {
        // HF's causal LM shift: position i predicts labels[i + 1]; -100 is not counted.
        const v = logits.length / (b * t);
        for (let r = 0; r < b; r++) {
          for (let i = 0; i + 1 < t; i++) {
            const target = labels[r * t + i + 1];
            if (target === -100) continue;
            total += crossEntropy(logits, v, r * t + i, target);
            count++;
          }
        }
      }
      expect(Math.abs(total / count - loss)).toBeLessThan(1e-5);
    });
  });

  test('the weights are the kind the README describes (norms near 1, biases non-zero, finite everything)', () => {
    open(path.join(dir, 'model.safetensors'), (f) => {
      for (const p of params.keys()) {
        const w = floats(f, p);
        expect(w.every(Number.isFinite)).toBe(true);
        const isNorm = /norm|ln_|LayerNorm/.test(p);
        const mean = w.reduce((a, x) => a + x, 0) / w.length;
        if (isNorm && p.endsWith('weight')) expect(Math.abs(mean - 1)).toBeLessThan(0.1);
        else expect(w.some((x) => x !== 0)).toBe(true);
      }
    });
    open(path.join(dir, 'golden.safetensors'), (f) => {
      for (const e of f.list()) if (e.dtype === 'F32') expect(floats(f, e.name).every(Number.isFinite)).toBe(true);
    });
  });
});

test('gradients with no true value (key biases: softmax ignores a per-row shift) are rounding noise only', () => {
  // The model tests must not compare adamw3 of these elements: Adam turns noise into updates of up to lr.
  const cases: [ModelName, string, number, number][] = [
    ['gpt2', 'grad.transformer.h.0.attn.c_attn.bias', 32, 64],
    ['gpt2', 'grad.transformer.h.1.attn.c_attn.bias', 32, 64],
    ['bert', 'grad.bert.encoder.layer.0.attention.self.key.bias', 0, 32],
    ['bert', 'grad.bert.encoder.layer.1.attention.self.key.bias', 0, 32],
  ];
  for (const [name, key, begin, end] of cases) {
    const g = open(path.join(ROOT, name, 'golden.safetensors'), (f) => floats(f, key));
    for (let i = begin; i < end; i++) expect(Math.abs(g[i])).toBeLessThan(1e-6);
  }
});
