/**
 * safetensors: byte mutations, edits of the header JSON (the length prefix kept right, so the edit is
 * what gets parsed), and edits of the 8-byte header length itself.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, loadSafetensors, saveSafetensors } from '../../../lib';
import { mutateBytes, mutateJson, type Mutation, type Rng } from '../mutate';
import { check, type FuzzFormat, samplesIn } from './format';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures');

function headerLength(bytes: Buffer): number {
  return bytes.length >= 8 ? Number(bytes.readBigUInt64LE(0)) : 0;
}

/** An edit of the header JSON (or of a JSON string in its __metadata__, as optimizer states keep). */
function mutateHeader(rng: Rng, src: Buffer): Mutation {
  const n = headerLength(src);
  const header = JSON.parse(src.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const meta = header.__metadata__ as Record<string, string> | undefined;
  const jsonMeta = meta ? Object.keys(meta).filter((k) => /^[[{]/.test(meta[k])) : [];
  let edited: Mutation;
  if (jsonMeta.length > 0 && rng.chance(0.3)) {
    const key = rng.pick(jsonMeta);
    const inner = mutateJson(rng, meta![key]);
    meta![key] = inner.bytes.toString('utf8');
    edited = { bytes: Buffer.from(JSON.stringify(header)), what: `__metadata__.${key}: ${inner.what}` };
  } else edited = mutateJson(rng, JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(edited.bytes.length));
  return { bytes: Buffer.concat([prefix, edited.bytes, src.subarray(8 + n)]), what: `header: ${edited.what}` };
}

function mutateLength(rng: Rng, src: Buffer): Mutation {
  const n = headerLength(src);
  const v = rng.pick([0n, 1n, 2n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(src.length), BigInt(src.length - 7), 1n << 63n, (1n << 64n) - 1n, 100_000_001n]);
  const out = Buffer.from(src);
  out.writeBigUInt64LE(v < 0n ? 0n : v, 0);
  return { bytes: out, what: `header length ${n} -> ${v}` };
}

/** One mutation of a valid safetensors file's bytes (used by the adapter and checkpoint formats too). */
export function mutateSafetensors(rng: Rng, src: Buffer): Mutation {
  const r = rng.next();
  if (r < 0.45) return mutateHeader(rng, src);
  if (r < 0.6) return mutateLength(rng, src);
  return mutateBytes(rng, src, 8 + headerLength(src));
}

export const safetensorsFormat: FuzzFormat = {
  name: 'safetensors',
  makeSamples(dir) {
    fs.copyFileSync(path.join(FIXTURES, 'models', 'gpt2', 'model.safetensors'), path.join(dir, 'gpt2.safetensors'));
    fs.copyFileSync(path.join(FIXTURES, 'io', 'mixed_dtypes.safetensors'), path.join(dir, 'mixed_dtypes.safetensors'));
    const t = fromArray([1, -2, 3.5, 0, 1e-3, 65504], [2, 3]);
    saveSafetensors(path.join(dir, 'small.safetensors'), { w: t, empty: fromArray([], [0, 4]), ids: { dtype: 'I64', shape: [3], data: [1n, -2n, 3n] } },
      { format: 'pt', note: '{"a": [1, 2]}' }, { dtype: 'F16' });
    t.dispose();
    return [];
  },
  makeCase(rng, samplesDir, caseDir) {
    const sample = rng.pick(samplesIn(samplesDir));
    const m = mutateSafetensors(rng, fs.readFileSync(sample));
    const file = path.join(caseDir, path.basename(sample));
    fs.writeFileSync(file, m.bytes);
    return {
      what: `${path.basename(sample)}: ${m.what}`,
      file,
      load: () => {
        const { tensors, raw } = loadSafetensors(file);
        for (const [name, t] of Object.entries(tensors)) {
          check(t.size === t.shape.reduce((a, b) => a * b, 1), `tensor ${name} has ${t.size} values for shape [${t.shape}]`);
          t.dispose();
        }
        for (const [name, r] of Object.entries(raw)) check(r.data.length === r.shape.reduce((a, b) => a * b, 1), `raw ${name} has ${r.data.length} values for shape [${r.shape}]`);
      },
    };
  },
};
