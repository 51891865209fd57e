/**
 * LayerFreezingConfig (peft_type 'LAYER_FREEZING'; not in HF peft, saved in its layout): freeze the
 * embeddings (freezeEmbeddings) and the first numFrozenLayers transformer blocks, train everything else in
 * place (the upper blocks, final norm, heads). Blocks are found by the model's block list (model.layers,
 * transformer.h, bert.encoder.layer). Trained parameters are saved under their base keys.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

export interface LayerFreezingConfigFields {
  numFrozenLayers?: number;
  freezeEmbeddings?: boolean;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class LayerFreezingConfig extends PeftConfig {
  readonly peftType = 'LAYER_FREEZING' as const;
  numFrozenLayers = 0;
  freezeEmbeddings = true;
  modulesToSave: string[] | null = null;

  constructor(fields: LayerFreezingConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    if (!Number.isInteger(this.numFrozenLayers) || this.numFrozenLayers < 0)
      throw new RangeError(`LayerFreezingConfig: numFrozenLayers must be a non-negative integer, got ${this.numFrozenLayers}`);
    if (typeof this.freezeEmbeddings !== 'boolean') throw new TypeError(`LayerFreezingConfig: freezeEmbeddings must be a boolean, got ${JSON.stringify(this.freezeEmbeddings)}`);
  }
}

registerPeftConfig('LAYER_FREEZING', LayerFreezingConfig);
