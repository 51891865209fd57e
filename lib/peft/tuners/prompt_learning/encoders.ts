/**
 * Where prompt encoders live: the PeftModel's `prompt_encoder` module, one child per adapter name, so the
 * parameters read as HF's (`prompt_encoder.default.embedding.weight`, `prompt_encoder.default.mlp_head.0.weight`).
 */
import { Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import type { PromptEncoderModule } from './table';

/** HF's ModuleDict of prompt encoders. */
export class PromptEncoderDict extends Module {}

const KEY = 'prompt_encoder';

function dict(peft: PeftModel, create: boolean): PromptEncoderDict | null {
  const found = peft.namedChildren().find(([n]) => n === KEY)?.[1];
  if (found) return found as PromptEncoderDict;
  return create ? peft.registerModule(KEY, new PromptEncoderDict()) : null;
}

export function setEncoder(peft: PeftModel, name: string, encoder: PromptEncoderModule): void {
  dict(peft, true)!.registerModule(name, encoder);
}

export function getEncoder(peft: PeftModel, name: string, op: string): PromptEncoderModule {
  const d = dict(peft, false);
  const e = d?.namedChildren().find(([n]) => n === name)?.[1];
  if (!e) throw new Error(`${op}: no prompt encoder for adapter '${name}'`);
  return e as PromptEncoderModule;
}

/** Drops an adapter's encoder and frees its parameters. */
export function removeEncoder(peft: PeftModel, name: string): void {
  const d = dict(peft, false);
  const e = d?.namedChildren().find(([n]) => n === name)?.[1];
  if (!d || !e) return;
  d.registerModule(name, null);
  e.dispose();
}

/** The encoder's parameters with their paths in the PeftModel. */
export function encoderParameters(peft: PeftModel, name: string): [string, Tensor][] {
  const d = dict(peft, false);
  const e = d?.namedChildren().find(([n]) => n === name)?.[1];
  return e ? e.namedParameters({ prefix: `${KEY}.${name}` }) : [];
}
