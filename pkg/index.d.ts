// Types of lfm-webgpu's public API (index.js). Shapes follow OpenAI's chat completions.

export interface LoadProgress {
  /**
   * In this order: 'download' (a URL not yet in the cache, written to it), 'header' and
   * 'weights' (the file read onto the GPU), then 'done' once.
   */
  phase: 'download' | 'header' | 'weights' | 'done';
  /** Bytes of the file done in this phase; never decreases within a phase. */
  loadedBytes: number;
  /** The file size; null until known. */
  totalBytes: number | null;
}

export interface CreateEngineOptions {
  /** The GGUF model: a URL, or a File / Blob (read in slices, never copied whole into memory). */
  model: string | URL | Blob;
  onProgress?: (p: LoadProgress) => void;
  /** Cancels the load (download included); createEngine rejects with code 'aborted'. */
  signal?: AbortSignal;
  /** Most tokens a conversation holds (default 4096, capped at the model's context). */
  contextTokens?: number;
  /** Run the engine in a Web Worker (default true). false: on the page's thread (blocks it while working). */
  worker?: boolean;
  /**
   * Keep URL downloads in the origin private file system and load them from there next time,
   * offline (default true; needs the worker). Interrupted downloads resume.
   */
  cache?: boolean;
  /** Expected SHA-256 (hex) of the file: a download that differs is deleted and rejected ('integrity'). */
  sha256?: string;
  /** Plan with this storage-binding limit in bytes (as on a mobile GPU's 128 MiB): for testing splits. */
  maxBindingBytes?: number;
  /** How the KV cache keeps K and V: 'f16' (default: half the memory, logits within ~1e-2) or 'f32' (exact). */
  kvCache?: 'f16' | 'f32';
  /** Weights in GPU textures (true) or storage buffers (false) instead of the adapter's default (textures on CPU adapters such as SwiftShader, buffers on GPUs): for measuring. */
  weightTextures?: boolean;
}

export type LfmErrorCode =
  | 'http' | 'network' | 'bad_model' | 'unsupported' | 'gpu' | 'out_of_memory' | 'device_lost'
  | 'context_overflow' | 'invalid_request' | 'busy' | 'aborted' | 'quota_exceeded' | 'cache_corrupt'
  | 'integrity' | 'unloaded' | 'no_webgpu' | 'worker' | 'tool' | 'internal';

/** Every failure of the package. */
export class LfmError extends Error {
  name: 'LfmError';
  code: LfmErrorCode;
  /** The HTTP status, for code 'http'. */
  status?: number;
  /** From `runTools`: the messages it had added before it failed (nothing is lost). */
  messages?: ChatMessage[];
}

export interface CachedModel {
  url: string;
  /** Bytes on disk (a partial download has fewer than `totalBytes`). */
  sizeBytes: number;
  totalBytes: number | null;
  complete: boolean;
  sha256: string | null;
  downloadedAt: string | null;
}

/** The models in the OPFS cache. */
export function listCachedModels(): Promise<CachedModel[]>;
/** Deletes a cached model (complete or partial); resolves to whether there was one. */
export function deleteCachedModel(url: string): Promise<boolean>;

export interface ToolCall {
  id: string;
  type: 'function';
  /** `arguments` is a JSON object as text. */
  function: { name: string; arguments: string };
}

export interface ToolCallDelta extends ToolCall {
  /** Position of the call in this answer's calls. */
  index: number;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; content: string; tool_call_id?: string; name?: string };

export interface Tool {
  type: 'function';
  function: { name: string; description?: string; parameters?: object };
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'abort' | 'loop';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** `cached_tokens`: prompt tokens the conversation state already held (not evaluated again). */
  prompt_tokens_details: { cached_tokens: number };
}

/** Not OpenAI: where the time went. */
export interface Timings {
  prefill_ms: number;
  decode_ms: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
}

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  tools?: Tool[];
  stream?: boolean;
  /** Absent sampling fields keep the model card's defaults (temperature 0.2, top_k 80, repetition_penalty 1.05); 0 is greedy. */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  seed?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  /** Aborting ends the answer with finish_reason 'abort' (before it starts: rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Not OpenAI, for tests: text the answer starts with, as if the model had written it. */
  forced_output?: string;
}

export interface RunToolsTool {
  name: string;
  description?: string;
  /** JSON schema of the arguments object. */
  parameters?: object;
  /** Gets the parsed arguments; returns the result (a string, or a value sent as JSON). May be async. */
  handler: (args: any, context: { call: ToolCall; signal?: AbortSignal }) => unknown;
}

export interface RunToolsRequest extends Omit<ChatCompletionRequest, 'tools' | 'stream' | 'forced_output'> {
  tools: RunToolsTool[];
  /** Most answers the model gives (default 8). */
  maxSteps?: number;
  /** Time a handler may take (default 30000 ms); then the model gets an error result. */
  toolTimeoutMs?: number;
  /**
   * Longest result the model is shown, in characters (default: the engine's `contextTokens`,
   * about a quarter of the context); a longer one is cut, with a note saying so. Results are
   * always made well-formed text: bytes are decoded as UTF-8 (invalid sequences and lone
   * surrogates become U+FFFD).
   */
  maxToolResultChars?: number;
  /** Called with each new message: assistant answers and tool results, as they happen. */
  onMessage?: (message: ChatMessage) => void;
  /** For tests: forced output per step (an array) or for every step. */
  forced_output?: string | (string | null)[];
}

export interface RunToolsResult {
  /** The last assistant message. */
  message: ChatMessage;
  /** The messages added to the conversation (assistant answers and tool results). */
  messages: ChatMessage[];
  /**
   * The last answer's reason; 'max_steps' when it still called tools at `maxSteps`; 'abort'
   * when `signal` fired (a tool still running then gets an interruption error as its result).
   */
  finish_reason: FinishReason | 'max_steps';
  steps: number;
  /** Summed over the steps. */
  usage: Usage;
}

export interface GenerateRequest {
  /** The prompt as token ids (e.g. from tokenize()); runs from a fresh state, not the chat's. */
  tokens: number[];
  max_tokens?: number;
  /** Default 0 (greedy). */
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  seed?: number;
  /** Token ids that end the generation (the id is the last one returned). */
  stop?: number[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      delta: { role?: 'assistant'; content?: string; tool_calls?: ToolCallDelta[] };
      finish_reason: FinishReason | null;
    },
  ];
  /** On the last chunk only. */
  usage?: Usage;
  timings?: Timings;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] };
      finish_reason: FinishReason;
    },
  ];
  usage: Usage;
  timings: Timings;
}

export interface EngineStats {
  loaded: boolean;
  /** The GPU device was lost: create the engine again. */
  lost?: boolean;
  /** Current size of the engine's wasm memory. */
  wasmMemoryBytes: number;
  model?: Record<string, unknown>;
  contextTokens?: number;
  historyTokens?: number;
  lastUsage?: { prompt_tokens: number; cached_tokens: number; completion_tokens: number } | null;
  lastTimings?: Timings | null;
}

export interface Engine extends EventTarget {
  /** What was loaded (name, sizes, adapter, config). */
  readonly model: Record<string, unknown>;
  chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
  /** The agent loop: runs tool handlers and feeds their results back. An 'error' event fires if the GPU device is lost. */
  runTools(request: RunToolsRequest): Promise<RunToolsResult>;
  generate(request: GenerateRequest): Promise<{ tokens: number[]; finish_reason: 'stop' | 'length' }>;
  /** Token ids of `text` as written (special-token text becomes the token; no BOS added). */
  tokenize(text: string): Promise<number[]>;
  /** The text of `ids`, special tokens left out. */
  detokenize(ids: number[]): Promise<string>;
  /** Stops the running answer (finish_reason 'abort'). */
  interrupt(): void;
  /** Forgets the conversation state. */
  resetChat(): Promise<void>;
  /** Releases the GPU memory; the engine cannot be used afterwards. */
  unload(): Promise<void>;
  stats(): EngineStats;
}

export function createEngine(options: CreateEngineOptions): Promise<Engine>;
