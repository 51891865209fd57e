/** peftjs/io: safetensors, Hugging Face model folders, llama2.c checkpoints and tokenizers. */
export { FileFormatError } from './errors';
export * from './safetensors';
export { writeFileAtomic } from './atomic';
export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from './half';
export { loadLlama2c, readLlama2cConfig } from './llama2c';
export type { Llama2cCheckpoint, Llama2cConfig } from './llama2c';
export { Llama2cTokenizer, loadLlama2cTokenizer, BOS_ID, EOS_ID } from './llama2c_tokenizer';
export type { EncodeOptions } from './llama2c_tokenizer';
export { CONFIG_FILE, HfModelFolderReader, loadHfModelFolder, openHfModelFolder, readHfConfig, saveHfModelFolder } from './hf_folder';
export type { HfModelFolder, HfTensorInfo, LoadHfModelFolderOptions, SaveHfModelFolderOptions } from './hf_folder';
export { DEFAULT_MAX_SHARD_BYTES, INDEX_FILE, planShards, shardFileName, SINGLE_FILE } from './hf_shards';
export type { ShardPlan } from './hf_shards';
export { hfJsonString } from './hf_json';
export { loadTokenizer } from './tokenizer';
export type { LoadTokenizerOptions, Tokenizer, TokenizerEncodeOptions } from './tokenizer';
export { HfTokenizer } from './hf_tokenizer';
export { ByteTokenizer, BYTE_TOKENIZER_FILE } from './byte_tokenizer';
export { bytesToUnicode, saveTrainedBpe, trainByteLevelBpe, type TrainBpeOptions, type TrainedBpe } from './bpe_train';
