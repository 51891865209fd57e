/**
 * safetensors: read (whole, or lazily one tensor at a time) and write (atomically, in Hugging Face's
 * layout). Format: 8-byte little-endian header length N, N bytes of JSON header, then the tensors'
 * bytes tiling the rest of the file. See safetensors_header.ts for the rules a file must follow.
 */
export { DTYPE_SIZE, isFloatDtype, SAFETENSORS_DTYPES } from './safetensors_dtypes';
export type { RawArray, RawTensor, SafetensorsDtype } from './safetensors_dtypes';
export { MAX_HEADER_BYTES } from './safetensors_header';
export { listSafetensors, loadSafetensors, SafetensorsFile, withSafetensorsFile } from './safetensors_read';
export type { LoadedSafetensors, LoadSafetensorsOptions, TensorInfo } from './safetensors_read';
export { planSafetensors, saveSafetensors } from './safetensors_write';
export type { RawTensorInput, SaveDtype, SaveSafetensorsOptions } from './safetensors_write';
