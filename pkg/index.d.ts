// Types of lfm-webgpu's public API (index.js). Shapes follow OpenAI's chat completions.

export interface LoadProgress {
  phase: 'header' | 'weights' | 'done';
  /** How far into the file the load has got; never decreases. */
  loadedBytes: number;
  /** The file size; null until known. */
  totalBytes: number | null;
}

export interface CreateEngineOptions {
  /** The GGUF file's URL (File / Blob sources come later). */
  model: string | URL;
  onProgress?: (p: LoadProgress) => void;
  /** Most tokens a conversation holds (default 4096, capped at the model's context). */
  contextTokens?: number;
}

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
  model?: Record<string, unknown>;
  contextTokens?: number;
  historyTokens?: number;
  lastUsage?: { prompt_tokens: number; cached_tokens: number; completion_tokens: number } | null;
  lastTimings?: Timings | null;
}

export interface Engine {
  chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
    };
  };
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

/** The wasm-side core (moves into a Web Worker later); most code wants `createEngine`. */
export class EngineCore {
  load(url: string, onProgress?: (p: LoadProgress) => void, contextTokens?: number): Promise<Record<string, unknown>>;
  chat(request: object, onEvent: (event: object) => void): Promise<object>;
  interrupt(): void;
  resetChat(): void;
  tokenize(text: string): number[];
  detokenize(ids: number[], skipSpecial?: boolean): string;
  unload(): void;
  stats(): EngineStats;
}
