/**
 * RoPE scaling as Hugging Face transformers computes it (src/transformers/modeling_rope_utils.py: the
 * ROPE_INIT_FUNCTIONS of v4.45 at 0044e3b, with the v4.5x changes: longrope picks short_factor or
 * long_factor by the sequence length seen (dynamic_rope_update's longrope_frequency_update), yarn's
 * original_max_position_embeddings / truncate / mscale keys, head_dim from the config):
 * the inverse frequencies each rope_type gives, in float32 step by step as PyTorch computes them (each
 * tensor op rounded to float32; a Python scalar meeting a float32 tensor is cast to float32; `s / t` is
 * t.reciprocal() * s, as torch's Tensor.__rtruediv__), and the attention factor that multiplies cos and sin.
 *
 * rope_type (or the legacy key `type`):
 * - default: 1 / theta^(2i/d).
 * - linear: default / factor.
 * - dynamic (NTK): for a sequence of length L = max(position) + 1 > max_position_embeddings the base
 *   becomes theta * (factor L / max - (factor - 1))^(d / (d - 2)); otherwise default. HF caches the largest
 *   length seen and resets below max_position_embeddings; here each forward uses its own L (the same when
 *   positions grow, as in training and in generation with the KV cache).
 * - llama3: Llama 3.1's smooth interpolation between factor-scaled low frequencies and unscaled high ones.
 * - longrope: 1 / (ext * theta^(2i/d)), ext = long_factor when L > original_max_position_embeddings, else
 *   short_factor; attention factor sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings /
 *   original_max_position_embeddings (Phi-3), unless rope_scaling gives attention_factor.
 * - yarn: YaRN's ramp between interpolated and extrapolated frequencies, attention factor 0.1 ln(factor) + 1.
 * d is the rotary width: int(head_dim * partial_rotary_factor).
 */
import { ropeInvFreq } from './reference';

export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'longrope', 'yarn'] as const;
export type RopeType = (typeof ROPE_TYPES)[number];

/** What the rotary embedding reads of a model config. */
export interface RotaryConfig {
  readonly headDim: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  ropeScaling?: Record<string, unknown> | null;
  /** Phi-3's: the rotary width is int(head_dim * partial_rotary_factor). Default 1. */
  partialRotaryFactor?: number;
  /** Phi-3's top-level original_max_position_embeddings (longrope's switch point and scale). */
  originalMaxPositionEmbeddings?: number | null;
}

/** What the rope op takes for one forward: its rotaryDim, invFreq (null: theta's) and attentionFactor. */
export interface RotaryParams {
  rotaryDim: number;
  invFreq: Float32Array | null;
  attentionFactor: number;
}

const f = Math.fround;

/** The rope_type of a rope_scaling object (rope_type, else the legacy `type`); 'default' when null. */
export function ropeTypeOf(rs: Record<string, unknown> | null | undefined): string {
  if (rs === null || rs === undefined) return 'default';
  const t = rs.rope_type ?? rs.type;
  return typeof t === 'string' ? t : String(t);
}

/** int(head_dim * partial_rotary_factor), as HF's rope init functions compute the rotary width. */
export function rotaryDimOf(c: RotaryConfig): number {
  return Math.trunc(c.headDim * (c.partialRotaryFactor ?? 1));
}

function show(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/**
 * Checks a config's rope_scaling (and partial_rotary_factor) as a model will use them: a known rope_type,
 * each required key present with the right type and range. Errors name the config class and the key.
 */
export function checkRopeScaling(owner: string, c: RotaryConfig): void {
  const prf = c.partialRotaryFactor ?? 1;
  if (typeof prf !== 'number' || !(prf > 0 && prf <= 1)) throw new RangeError(`${owner}: partial_rotary_factor must be a number in (0, 1], got ${show(prf)}`);
  const dim = rotaryDimOf(c);
  if (dim < 2 || dim % 2 !== 0)
    throw new RangeError(`${owner}: the rotary width int(head_dim ${c.headDim} * partial_rotary_factor ${prf}) = ${dim} must be even and at least 2`);
  const rs = c.ropeScaling;
  if (rs === null || rs === undefined) return;
  if (typeof rs !== 'object' || Array.isArray(rs)) throw new TypeError(`${owner}: 'rope_scaling' must be an object or null, got ${show(rs)}`);
  const t = rs.rope_type ?? rs.type;
  if (t === undefined) throw new TypeError(`${owner}: rope_scaling ${show(rs)} has no 'rope_type' (or 'type')`);
  if (typeof t !== 'string' || !(ROPE_TYPES as readonly string[]).includes(t))
    throw new RangeError(`${owner}: rope_scaling's rope_type ${show(t)} is not supported (supported: ${ROPE_TYPES.join(', ')})`);
  const key = (k: string) => `${owner}: rope_scaling.${k}`;
  const num = (k: string, required: boolean, check: (v: number) => boolean = Number.isFinite, what = 'a finite number'): number | undefined => {
    const v = rs[k];
    if (v === undefined || v === null) {
      if (required) throw new TypeError(`${key(k)} is required for rope_type '${t}' (${what})`);
      return undefined;
    }
    if (typeof v !== 'number') throw new TypeError(`${key(k)} must be ${what}, got ${show(v)}`);
    if (!Number.isFinite(v) || !check(v)) throw new RangeError(`${key(k)} must be ${what}, got ${show(v)}`);
    return v;
  };
  const positive = (v: number) => v > 0;
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  switch (t as RopeType) {
    case 'default':
      return;
    case 'linear':
    case 'dynamic':
      num('factor', true, positive, 'a number > 0');
      num('original_max_position_embeddings', false, posInt, 'a positive integer');
      return;
    case 'llama3': {
      num('factor', true, positive, 'a number > 0');
      const low = num('low_freq_factor', true, positive, 'a number > 0')!;
      const high = num('high_freq_factor', true, positive, 'a number > 0')!;
      num('original_max_position_embeddings', true, posInt, 'a positive integer');
      if (!(high > low)) throw new RangeError(`${key('high_freq_factor')} ${high} must be greater than low_freq_factor ${low}`);
      return;
    }
    case 'longrope': {
      for (const k of ['short_factor', 'long_factor']) {
        const v = rs[k];
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0))
          throw new TypeError(`${key(k)} must be a list of numbers > 0, got ${show(v)}`);
        if (v.length !== dim / 2) throw new RangeError(`${key(k)} must have rotary width / 2 = ${dim / 2} values, got ${v.length}`);
      }
      num('factor', false, positive, 'a number > 0');
      num('attention_factor', false, positive, 'a number > 0');
      num('original_max_position_embeddings', false, posInt, 'a positive integer');
      const orig = c.originalMaxPositionEmbeddings;
      if (orig !== undefined && orig !== null && !(Number.isInteger(orig) && orig > 0))
        throw new RangeError(`${owner}: original_max_position_embeddings must be a positive integer, got ${show(orig)}`);
      return;
    }
    case 'yarn':
      num('factor', true, positive, 'a number > 0');
      num('attention_factor', false, positive, 'a number > 0');
      num('beta_fast', false);
      num('beta_slow', false);
      num('mscale', false);
      num('mscale_all_dim', false);
      num('original_max_position_embeddings', false, posInt, 'a positive integer');
      if (rs.truncate !== undefined && typeof rs.truncate !== 'boolean') throw new TypeError(`${key('truncate')} must be true or false, got ${show(rs.truncate)}`);
      return;
  }
}

/** HF's default inverse frequencies as float32 values. */
function defaultInvFreq(dim: number, base: number): Float32Array {
  return Float32Array.from(ropeInvFreq(dim, base));
}

/** theta^(2i/d) as a float32 tensor op: pow(float(theta), float(2i) / d). */
function posFreqs(dim: number, base: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = f(Math.pow(f(base), f(f(2 * i) / f(dim))));
  return out;
}

/** The longrope switch point: the config's original_max_position_embeddings, else rope_scaling's, else max. */
function longropeOriginal(c: RotaryConfig): { original: number; fromConfig: boolean } {
  if (c.originalMaxPositionEmbeddings) return { original: c.originalMaxPositionEmbeddings, fromConfig: true };
  const o = c.ropeScaling?.original_max_position_embeddings;
  return typeof o === 'number' && o > 0 ? { original: o, fromConfig: false } : { original: c.maxPositionEmbeddings, fromConfig: false };
}

/**
 * The inverse frequencies and attention factor of a config's RoPE for a forward over sequences of length
 * seqLen (max position + 1): HF's rope init function for its rope_type. invFreq is null for the default
 * RoPE (the kernels then compute theta's frequencies themselves, bit-identical to the unscaled path).
 */
export function computeRopeParameters(c: RotaryConfig, seqLen: number): RotaryParams {
  const rotaryDim = rotaryDimOf(c);
  const rs = c.ropeScaling ?? null;
  const type = ropeTypeOf(rs) as RopeType;
  const base = c.ropeTheta, dim = rotaryDim, half = dim / 2;
  const num = (k: string): number | undefined => (typeof rs?.[k] === 'number' ? (rs[k] as number) : undefined);
  switch (type) {
    case 'default':
      return { rotaryDim, invFreq: null, attentionFactor: 1 };
    case 'linear': {
      const inv = defaultInvFreq(dim, base), factor = f(num('factor')!);
      for (let i = 0; i < half; i++) inv[i] = f(inv[i] / factor);
      return { rotaryDim, invFreq: inv, attentionFactor: 1 };
    }
    case 'dynamic': {
      const max = c.maxPositionEmbeddings, factor = num('factor')!;
      if (!(seqLen > max)) return { rotaryDim, invFreq: null, attentionFactor: 1 };
      // HF: seq_len is the int64 tensor max(position_ids) + 1, so the new base is float32 tensor arithmetic.
      const ratio = f(f(f(f(factor) * f(seqLen)) / f(max)) - f(factor - 1));
      const newBase = f(f(base) * f(Math.pow(ratio, f(dim / (dim - 2)))));
      return { rotaryDim, invFreq: defaultInvFreq(dim, newBase), attentionFactor: 1 };
    }
    case 'llama3': {
      const inv = defaultInvFreq(dim, base);
      const factor = num('factor')!, low = num('low_freq_factor')!, high = num('high_freq_factor')!;
      const old = num('original_max_position_embeddings')!;
      const lowWl = f(old / low), highWl = f(old / high), twoPi = f(2 * Math.PI), ff = f(factor);
      const out = new Float32Array(half);
      for (let i = 0; i < half; i++) {
        const wavelen = f(f(1 / inv[i]) * twoPi);
        let llama = wavelen > lowWl ? f(inv[i] / ff) : inv[i];
        const smooth = f(f(f(f(1 / wavelen) * f(old)) - f(low)) / f(high - low));
        const smoothed = f(f(f(f(1 - smooth) * llama) / ff) + f(smooth * llama));
        if (!(wavelen < highWl) && !(wavelen > lowWl)) llama = smoothed;
        out[i] = llama;
      }
      return { rotaryDim, invFreq: out, attentionFactor: 1 };
    }
    case 'longrope': {
      const { original, fromConfig } = longropeOriginal(c);
      const factor = fromConfig ? c.maxPositionEmbeddings / original : num('factor');
      let attentionFactor = num('attention_factor');
      if (attentionFactor === undefined) {
        if (factor === undefined) throw new RangeError('rope_scaling: longrope needs original_max_position_embeddings in the config, or factor or attention_factor in rope_scaling');
        attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
      }
      const ext = (seqLen > original ? rs!.long_factor : rs!.short_factor) as number[];
      const pf = posFreqs(dim, base), inv = new Float32Array(half);
      for (let i = 0; i < half; i++) inv[i] = f(1 / f(f(ext[i]) * pf[i]));
      return { rotaryDim, invFreq: inv, attentionFactor };
    }
    case 'yarn': {
      const factor = num('factor')!;
      const mscale = num('mscale'), mscaleAllDim = num('mscale_all_dim');
      const original = num('original_max_position_embeddings') || c.maxPositionEmbeddings;
      const getMscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
      let attentionFactor = num('attention_factor');
      if (attentionFactor === undefined)
        attentionFactor = mscale && mscaleAllDim ? getMscale(factor, mscale) / getMscale(factor, mscaleAllDim) : getMscale(factor);
      const betaFast = num('beta_fast') || 32, betaSlow = num('beta_slow') || 1;
      const corrDim = (rot: number) => (dim * Math.log(original / (rot * 2 * Math.PI))) / (2 * Math.log(base));
      let lo = corrDim(betaFast), hi = corrDim(betaSlow);
      if (rs!.truncate !== false) {
        lo = Math.floor(lo);
        hi = Math.ceil(hi);
      }
      lo = Math.max(lo, 0);
      hi = Math.min(hi, dim - 1);
      if (lo === hi) hi += 0.001;
      const pf = posFreqs(dim, base), inv = new Float32Array(half), ffac = f(factor);
      for (let i = 0; i < half; i++) {
        const ramp = Math.min(1, Math.max(0, f(f(i - f(lo)) / f(hi - lo))));
        const extFactor = f(1 - ramp);
        const extrap = f(1 / pf[i]), interp = f(1 / f(ffac * pf[i]));
        inv[i] = f(f(interp * f(1 - extFactor)) + f(extrap * extFactor));
      }
      return { rotaryDim, invFreq: inv, attentionFactor };
    }
    default:
      throw new RangeError(`rope_scaling: rope_type '${type}' is not supported (supported: ${ROPE_TYPES.join(', ')})`);
  }
}

/** max(positions) + 1 (HF's seq_len for dynamic and longrope RoPE); 0 for no positions. */
export function seqLenOf(positions: Int32Array): number {
  let m = -1;
  for (let i = 0; i < positions.length; i++) if (positions[i] > m) m = positions[i];
  return m + 1;
}

const cache = new WeakMap<object, { key: string; params: RotaryParams }>();

/**
 * The rope op's parameters for one forward of a model with this config over these positions, computed
 * once per config (and per sequence length where the rope_type depends on it: dynamic above
 * max_position_embeddings, longrope's short/long switch) and reused until the config changes.
 */
export function rotaryParams(c: RotaryConfig, positions: Int32Array): RotaryParams {
  const type = ropeTypeOf(c.ropeScaling);
  const seqLen = seqLenOf(positions);
  const branch = type === 'dynamic' ? (seqLen > c.maxPositionEmbeddings ? String(seqLen) : 'base')
    : type === 'longrope' ? (seqLen > longropeOriginal(c).original ? 'long' : 'short') : '';
  const key = JSON.stringify([c.headDim, c.ropeTheta, c.maxPositionEmbeddings, c.partialRotaryFactor ?? 1, c.originalMaxPositionEmbeddings ?? null,
    c.ropeScaling ?? null, branch]);
  const hit = cache.get(c);
  if (hit && hit.key === key) return hit.params;
  const params = computeRopeParameters(c, seqLen);
  cache.set(c, { key, params });
  return params;
}

/** The model_types whose HF causal LM drops the KV cache at LongRoPE's switch point (Phi3ForCausalLM overrides
 * prepare_inputs_for_generation; other models with longrope, e.g. LlamaForCausalLM, keep their cache). */
const DROP_CACHE_AT_SWITCH: ReadonlySet<string> = new Set(['phi3']);

/**
 * Whether generation must drop its KV cache before a step over `total` tokens of which `past` are cached: HF's
 * Phi3ForCausalLM.prepare_inputs_for_generation (transformers v4.49+, read at 00d4b3d): with rope_scaling set,
 * when input_ids reaches original_max_position_embeddings + 1 tokens while the cache holds no more than
 * original_max_position_embeddings, the cache is dropped, so the whole sequence is recomputed with the long
 * factors (the cached keys were rotated with the short ones). `config` is the model's (anything else: false).
 */
export function dropsCacheAtRopeSwitch(config: unknown, past: number, total: number): boolean {
  const c = config as (Partial<RotaryConfig> & { modelType?: unknown }) | null | undefined;
  if (!c || typeof c.modelType !== 'string' || !DROP_CACHE_AT_SWITCH.has(c.modelType) || !c.ropeScaling) return false;
  const original = c.originalMaxPositionEmbeddings ?? c.maxPositionEmbeddings;
  if (typeof original !== 'number') return false;
  return past > 0 && total >= original + 1 && past <= original;
}
