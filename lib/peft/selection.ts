/**
 * Selection methods (BitFit, layer freezing) train a chosen subset of the BASE model's parameters in
 * place: nothing is wrapped, the adapter's tensors are those parameters, saved under their own keys
 * (`base_model.model.<path>`). What this file adds is the bookkeeping such methods need to behave like the
 * other adapters: the original values are kept (host copies, made when the adapter is added) so that
 * disableAdapter() runs the base model (the trained values are swapped out and back) and deleteAdapter()
 * restores it. Since the weights are shared, a model holds one selection adapter at a time; merge() is a
 * no-op (the values already are in the weights), and unload()/mergeAndUnload() return the model with the
 * trained values.
 */
import type { Module } from '../nn/module';
import { backendFor, type Tensor } from '../tensor/tensor';
import type { PeftModel } from './peft_model';

interface Selection {
  name: string;
  trained: Set<Tensor>;
  originals: Map<Tensor, Float32Array>;
  /** The trained values while the adapter is disabled. */
  parked: Map<Tensor, Float32Array> | null;
}

const selections = new WeakMap<PeftModel, Selection>();

function write(t: Tensor, values: Float32Array): void {
  backendFor(t, 'selection').write(t.buf(), values);
}

/** Whether a module path is one of the modulesToSave targets (or under one): those train as copies instead. */
export function coveredByModulesToSave(modulePath: string, modulesToSave: string[] | null | undefined): boolean {
  if (!modulesToSave) return false;
  return modulesToSave.some((t) => modulePath === t || modulePath.endsWith(`.${t}`) || modulePath.startsWith(`${t}.`) || modulePath.includes(`.${t}.`));
}

/** Records the base parameters an adapter trains (and their original values). */
export function selectBaseParameters(peft: PeftModel, name: string, chosen: Tensor[], method: string): void {
  const existing = selections.get(peft);
  if (existing) throw new Error(`${method}: this model already holds the selection adapter '${existing.name}' (the trained tensors are the base model's own, so one such adapter at a time; deleteAdapter('${existing.name}') first)`);
  if (chosen.length === 0) throw new Error(`${method}: the config selects no parameter of the base model`);
  const trained = new Set(chosen);
  const originals = new Map([...trained].map((t) => [t, t.toFloat32Array()] as const));
  selections.set(peft, { name, trained, originals, parked: null });
}

/** The paths (in peft.model, deduplicated as namedParameters) of the parameters the adapter trains. */
export function selectedPaths(peft: PeftModel): string[] {
  const s = selections.get(peft);
  if (!s) return [];
  return peft.model.namedParameters().filter(([, t]) => s.trained.has(t)).map(([p]) => p);
}

/** disableAdapter(): the original values in; enabling again puts the trained values back. */
export function setSelectionDisabled(peft: PeftModel, disabled: boolean): void {
  const s = selections.get(peft);
  if (!s || disabled === (s.parked !== null)) return;
  if (disabled) {
    s.parked = new Map([...s.trained].map((t) => [t, t.toFloat32Array()] as const));
    for (const [t, v] of s.originals) write(t, v);
  } else {
    for (const [t, v] of s.parked!) write(t, v);
    s.parked = null;
  }
}

/** deleteAdapter(): the base values back, the parameters frozen again. */
export function deleteSelection(peft: PeftModel, name: string): void {
  const s = selections.get(peft);
  if (!s || s.name !== name) return;
  for (const [t, v] of s.originals) {
    write(t, v);
    t.requiresGrad = false;
  }
  selections.delete(peft);
}

/** The parameters of a module tree with their paths, skipping nothing (helper for the selection rules). */
export function parametersWithOwners(model: Module): { path: string; owner: Module; ownerPath: string; local: string; tensor: Tensor }[] {
  const seen = new Set<Tensor>();
  const out: { path: string; owner: Module; ownerPath: string; local: string; tensor: Tensor }[] = [];
  for (const [ownerPath, owner] of model.namedModules()) {
    for (const [local, tensor] of owner.localParameters()) {
      if (seen.has(tensor)) continue;
      seen.add(tensor);
      out.push({ path: ownerPath ? `${ownerPath}.${local}` : local, owner, ownerPath, local, tensor });
    }
  }
  return out;
}
