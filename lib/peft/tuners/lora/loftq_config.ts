/**
 * LoftQConfig: HF peft's LoftQConfig (src/peft/tuners/lora/config.py at 5d602fd), LoraConfig's
 * loftq_config: the bits the base weight is quantized to and the number of alternating
 * quantize / low-rank steps. HF stores it in LoraConfig as a plain dict and writes it to
 * adapter_config.json as {"loftq_bits": 4, "loftq_iter": 1} ({} when LoftQ is not used).
 * HF's loftq_init (src/peft/utils/loftq_utils.py) refuses bits other than 4 (bitsandbytes' NF4) and
 * 8 (LLM.int8's row-wise int8) and fewer than 1 iteration when the layer is initialised; here the
 * config refuses them when it is made, naming the field.
 */

export interface LoftQConfigFields {
  loftqBits?: number;
  loftqIter?: number;
}

/** The quantizations HF's loftq_init has since peft 0.20 (NFQuantizer's 2 bits were removed). */
export const LOFTQ_BITS = [4, 8] as const;

const CLS = 'LoftQConfig';
const KEYS: Record<string, keyof LoftQConfigFields> = { loftq_bits: 'loftqBits', loftq_iter: 'loftqIter' };

export class LoftQConfig {
  loftqBits = 4;
  loftqIter = 1;

  constructor(fields: LoftQConfigFields = {}) {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
      throw new TypeError(`${CLS}: expected an object of fields, got ${JSON.stringify(fields)}`);
    const unknown = Object.keys(fields).filter((k) => k !== 'loftqBits' && k !== 'loftqIter');
    if (unknown.length > 0) throw new RangeError(`${CLS}: unknown field '${unknown[0]}' (known: loftqBits, loftqIter)`);
    if (fields.loftqBits !== undefined) this.loftqBits = fields.loftqBits;
    if (fields.loftqIter !== undefined) this.loftqIter = fields.loftqIter;
    this.validate();
  }

  validate(): void {
    if (!(LOFTQ_BITS as readonly unknown[]).includes(this.loftqBits))
      throw new RangeError(`${CLS}: loftqBits must be 4 (NF4) or 8 (int8), got ${JSON.stringify(this.loftqBits)} (HF peft: "Only nf4 and int8 quantization is supported")`);
    if (typeof this.loftqIter !== 'number' || !Number.isInteger(this.loftqIter) || this.loftqIter < 1)
      throw new RangeError(`${CLS}: loftqIter must be an integer >= 1, got ${JSON.stringify(this.loftqIter)} (HF peft: "Number of iterations must be greater than 0")`);
  }

  /** adapter_config.json's loftq_config, as HF's vars(LoftQConfig) writes it. */
  toJSON(): { loftq_bits: number; loftq_iter: number } {
    return { loftq_bits: this.loftqBits, loftq_iter: this.loftqIter };
  }

  /** A config from adapter_config.json's dict: both keys present (HF's loftq_init indexes them), no others. */
  static fromJSON(dict: unknown): LoftQConfig {
    if (typeof dict !== 'object' || dict === null || Array.isArray(dict))
      throw new TypeError(`${CLS}: loftq_config must be an object, got ${JSON.stringify(dict)}`);
    const fields: LoftQConfigFields = {};
    for (const [key, value] of Object.entries(dict)) {
      const field = KEYS[key];
      if (field === undefined) throw new RangeError(`${CLS}: unknown loftq_config key '${key}' (known: loftq_bits, loftq_iter)`);
      fields[field] = value as number;
    }
    for (const [key, field] of Object.entries(KEYS))
      if (fields[field] === undefined) throw new RangeError(`${CLS}: loftq_config lacks '${key}'`);
    return new LoftQConfig(fields);
  }
}

/**
 * LoraConfig's loftqConfig from what a caller passed: a LoftQConfig, its camelCase fields, or HF's
 * snake_case dict; null for nothing or an empty object (HF's default {}).
 */
export function toLoftQConfig(v: unknown): LoftQConfig | null {
  if (v === null || v === undefined) return null;
  if (v instanceof LoftQConfig) {
    v.validate();
    return v;
  }
  if (typeof v !== 'object' || Array.isArray(v))
    throw new TypeError(`LoraConfig: loftqConfig must be a LoftQConfig, an object of its fields or null, got ${JSON.stringify(v)}`);
  const keys = Object.keys(v);
  if (keys.length === 0) return null;
  return keys.some((k) => k in KEYS) ? LoftQConfig.fromJSON(v) : new LoftQConfig(v as LoftQConfigFields);
}
