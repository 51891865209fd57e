/**
 * An optimizer's state on disk: one safetensors file whose tensors are the per-parameter buffers
 * ("state.<index>.<buffer>", F32, in the parameter's shape) and whose metadata holds the rest as JSON
 * (optimizer name, format version, update counts, parameter groups). One file means one atomic write:
 * a crash mid-save leaves the previous checkpoint whole.
 */
import { FileFormatError } from '../io/errors';
import { saveSafetensors, type RawTensorInput } from '../io/safetensors_write';
import { withSafetensorsFile } from '../io/safetensors_read';
import type { OptimizerStateDict, ParamStateDict } from './state_dict';

const FORMAT = 'peftjs-optimizer';
const VERSION = '1';

export function saveOptimizerState(file: string, optimizer: string, sd: OptimizerStateDict): void {
  const tensors: Record<string, RawTensorInput> = {};
  const steps: Record<string, number> = {};
  for (const [i, s] of Object.entries(sd.state)) {
    steps[i] = s.step;
    for (const [name, values] of Object.entries(s.buffers)) tensors[`state.${i}.${name}`] = { dtype: 'F32', shape: s.shape, data: values };
  }
  const shapes: Record<string, number[]> = {};
  for (const [i, s] of Object.entries(sd.state)) shapes[i] = s.shape;
  saveSafetensors(file, tensors, {
    format: FORMAT,
    version: VERSION,
    optimizer,
    steps: JSON.stringify(steps),
    shapes: JSON.stringify(shapes),
    param_groups: JSON.stringify(sd.paramGroups),
  });
}

export function loadOptimizerState(file: string, optimizer: string): OptimizerStateDict {
  return withSafetensorsFile(file, (f) => {
    const meta = f.metadata;
    const bad = (what: string): never => {
      throw new FileFormatError(`${optimizer} state`, file, what);
    };
    if (meta.format !== FORMAT) bad(`not an optimizer state file (metadata format is ${JSON.stringify(meta.format)}, expected "${FORMAT}")`);
    if (meta.version !== VERSION) bad(`format version ${JSON.stringify(meta.version)} is not supported (expected "${VERSION}")`);
    if (meta.optimizer !== optimizer) bad(`the state is of a ${meta.optimizer} optimizer, not ${optimizer}`);
    const parse = (key: string): unknown => {
      try {
        return JSON.parse(meta[key] ?? 'null');
      } catch {
        return bad(`metadata "${key}" is not valid JSON`);
      }
    };
    const steps = parse('steps') as Record<string, number> | null;
    const shapes = parse('shapes') as Record<string, number[]> | null;
    const paramGroups = parse('param_groups');
    if (steps === null || typeof steps !== 'object' || shapes === null || typeof shapes !== 'object' || !Array.isArray(paramGroups))
      bad('metadata "steps", "shapes" and "param_groups" are missing or malformed');
    const state: Record<number, ParamStateDict> = {};
    for (const [i, step] of Object.entries(steps!)) state[Number(i)] = { step, shape: shapes![i], buffers: {} };
    for (const name of f.names()) {
      const m = /^state\.(\d+)\.(\w+)$/.exec(name);
      if (m === null) bad(`unexpected tensor ${JSON.stringify(name)}`);
      const s = state[Number(m![1])];
      if (s === undefined) bad(`tensor ${JSON.stringify(name)} belongs to no saved parameter state`);
      const raw = f.loadRaw(name);
      if (raw.dtype !== 'F32') bad(`tensor ${JSON.stringify(name)} is ${raw.dtype}, expected F32`);
      if (!Array.isArray(s.shape) || raw.shape.join(',') !== s.shape.join(','))
        bad(`tensor ${JSON.stringify(name)} has shape [${raw.shape.join(', ')}], the metadata says [${String(s.shape)}]`);
      s.buffers[m![2]] = raw.data as Float32Array;
    }
    return { state, paramGroups: paramGroups as OptimizerStateDict['paramGroups'] };
  });
}
