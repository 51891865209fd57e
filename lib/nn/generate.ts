/**
 * Text generation for causal language models: greedy decoding or temperature / top-p (nucleus) sampling,
 * with a KV cache so each new token costs one position's forward pass.
 */
import { dropsCacheAtRopeSwitch } from '../ops/rope/scaling';
import { noGrad } from '../tensor/autograd';
import { tidy } from '../tensor/scope';
import type { CausalLMInputs, CausalLMOutput } from './models/causal_lm';
import { KVCache } from './models/kv_cache';

export interface CausalLM {
  forward(inputs: CausalLMInputs): CausalLMOutput;
  eval(): unknown;
  training: boolean;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) is greedy decoding. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1). */
  topP?: number;
  seed?: number;
  /** Stop after producing this token (it is included in the result). */
  eosTokenId?: number | null;
  /** The model's context length: generation stops there. */
  maxLength?: number;
  /** Called with each new token as it is produced (for streaming output). */
  onToken?: (id: number) => void;
}

/** The config of a model, or of the model a PeftModel wraps (its `model`); undefined when neither has one. */
function configOf(model: CausalLM): unknown {
  const m = model as { config?: unknown; model?: { config?: unknown } };
  return m.config ?? m.model?.config;
}

/** Returns the new token ids (not the prompt). */
export function generate(model: CausalLM, promptIds: readonly number[], opts: GenerateOptions): number[] {
  if (promptIds.length === 0) throw new RangeError('generate: the prompt must hold at least one token (e.g. BOS)');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new RangeError(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0)) throw new RangeError(`generate: temperature must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generate: topP must be in (0, 1], got ${topP}`);
  const random = xorshift(opts.seed ?? 1234);
  const wasTraining = model.training;
  model.eval();
  const cache = new KVCache();
  const out: number[] = [];
  try {
    noGrad(() => {
      let input = [...promptIds];
      const limit = opts.maxLength ?? Infinity;
      const config = configOf(model);
      for (let step = 0; step < opts.maxNewTokens && cache.length + input.length <= limit; step++) {
        // Phi-3's LongRoPE: at the switch to the long factors HF recomputes the sequence without the cache.
        if (dropsCacheAtRopeSwitch(config, cache.length, cache.length + input.length)) {
          cache.dispose();
          input = [...promptIds, ...out];
        }
        const logits = tidy(() => {
          const { logits: l } = model.forward({ inputIds: { data: Int32Array.from(input), shape: [1, input.length] }, cache });
          const last = l.slice(1, input.length - 1, input.length);
          return last.toFloat32Array();
        });
        const next = temperature === 0 ? argmax(logits) : sample(logits, temperature, topP, random);
        out.push(next);
        opts.onToken?.(next);
        if (opts.eosTokenId !== undefined && opts.eosTokenId !== null && next === opts.eosTokenId) break;
        input = [next];
      }
    });
  } finally {
    cache.dispose();
    if (wasTraining) (model as unknown as { train(): void }).train();
  }
  return out;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Softmax at a temperature, then sample within the top-p nucleus. */
function sample(logits: Float32Array, temperature: number, topP: number, random: () => number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i] - max) / temperature);
  const order = Array.from(probs.keys());
  if (topP < 1) order.sort((a, b) => probs[b] - probs[a]);
  let kept = 0, cut = order.length;
  for (let i = 0; i < order.length; i++) {
    kept += probs[order[i]];
    if (topP < 1 && kept / sum >= topP) {
      cut = i + 1;
      break;
    }
  }
  const total = topP < 1 ? kept : sum;
  let r = random() * total;
  for (let i = 0; i < cut; i++) {
    r -= probs[order[i]];
    if (r <= 0) return order[i];
  }
  return order[cut - 1];
}

/** A small seeded generator (xorshift64*), enough for sampling. */
function xorshift(seed: number): () => number {
  let s = BigInt.asUintN(64, BigInt(Math.floor(seed)) * 0x9e3779b97f4a7c15n + 1n);
  return () => {
    s ^= s >> 12n;
    s ^= BigInt.asUintN(64, s << 25n);
    s ^= s >> 27n;
    const r = BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn);
    return Number(r >> 40n) / 2 ** 24;
  };
}
