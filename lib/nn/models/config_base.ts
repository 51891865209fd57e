/**
 * Model configs mirror Hugging Face's config.json: camelCase fields here, snake_case keys on disk. Keys a
 * config does not know are kept (and written back), as HF's PretrainedConfig keeps them.
 */

export const camelToSnake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const snakeToCamel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export abstract class ModelConfig {
  abstract readonly modelType: string;
  /** config.json keys this class has no field for, kept verbatim. */
  extra: Record<string, unknown> = {};

  /** Sets fields from a config.json object (snake_case), checking types against the defaults. */
  protected assign(dict: Record<string, unknown>, file = 'config'): void {
    if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) throw new TypeError(`${file}: expected a JSON object`);
    const self = this as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(dict)) {
      const field = snakeToCamel(key);
      if (field === 'modelType' || field === 'extra') continue;
      if (!(field in self)) {
        this.extra[key] = value;
        continue;
      }
      const current = self[field];
      if (typeof current === 'number' && (typeof value !== 'number' || !Number.isFinite(value)))
        throw new TypeError(`${file}: '${key}' must be a number, got ${JSON.stringify(value)}`);
      if (typeof current === 'boolean' && typeof value !== 'boolean')
        throw new TypeError(`${file}: '${key}' must be true or false, got ${JSON.stringify(value)}`);
      self[field] = value;
    }
  }

  /** The config.json object: snake_case keys, model_type, and the extra keys. */
  toDict(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.extra };
    for (const [field, value] of Object.entries(this)) {
      if (field === 'extra' || value === undefined || typeof value === 'function') continue;
      out[camelToSnake(field)] = value;
    }
    return out;
  }

  protected requirePositive(...fields: string[]): void {
    const self = this as unknown as Record<string, unknown>;
    for (const f of fields) {
      const v = self[f];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
        throw new RangeError(`${this.constructor.name}: ${camelToSnake(f)} must be a positive integer, got ${String(v)}`);
    }
  }
}
