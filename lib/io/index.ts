/** peftjs/io: safetensors, llama2.c checkpoints and the llama2.c tokenizer. */
export { FileFormatError } from './errors';
export * from './safetensors';
export { writeFileAtomic } from './atomic';
export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from './half';
export { loadLlama2c, readLlama2cConfig } from './llama2c';
export type { Llama2cCheckpoint, Llama2cConfig } from './llama2c';
export { Llama2cTokenizer, loadLlama2cTokenizer, BOS_ID, EOS_ID } from './llama2c_tokenizer';
export type { EncodeOptions } from './llama2c_tokenizer';
