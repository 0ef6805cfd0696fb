// The messages between the page and the engine worker, and the StepEvent protocol they carry.
// The engine's types (StepEvents, requests, model facts) are generated from the Rust types by tsify into the
// wasm-bindgen declarations (web/pkg/tokscope_wasm.d.ts, written by the wasm build): this file re-exports them under
// the names the page uses and adds the worker's own messages. Only the worker produces model output; the page
// renders it.

import type { MemoryEstimate } from './memory';
import type {
  BackendChoice,
  HeaderFacts,
  BranchRequest,
  CompareRequest,
  DoneEvent as DoneFields,
  GenerateRequest,
  ModelFacts,
  ReadPhase,
  RunEvent,
  ScoreRequest,
  SpeculateRequest,
  StepEvent as StepFields,
} from '../../pkg/tokscope_wasm';

export type {
  BackendChoice,
  HeaderFacts,
  BranchRequest,
  CompareRequest,
  GenerateRequest,
  ModelFacts,
  ReadPhase,
  RunEvent,
  ScoreRequest,
  SpeculateRequest,
};
export type {
  BranchingStep as Bf,
  CompareStep,
  CompareSummary,
  GltrBucket,
  ModeName as CompareMode,
  MultiDraftCandidate,
  MultiDraftCheck,
  MultiDraftSummary,
  Outcome as DraftOutcome,
  PromptRequest,
  SamplesSummary,
  SamplingStats,
  ScoreSummary,
  SpecDraft,
  SpecSource,
  SpecStep,
  SpecSummary,
  StopReason,
  Token,
  TopEntry,
} from '../../pkg/tokscope_wasm';

/** One decoding (or scoring) step, as the engine sends it (tagged `type: 'step'`). */
export type StepEvent = StepFields & { type: 'step' };

/** The last message of a run (tagged `type: 'done'`). */
export type DoneEvent = DoneFields & { type: 'done' };

/** Where a model comes from. */
export type ModelSource = { kind: 'default'; url: string } | { kind: 'url'; url: string } | { kind: 'file'; file: File };

/** The streaming run modes. */
export type RunKind = 'generate' | 'speculate' | 'compare' | 'branch';

/** Page → worker. */
export type ToWorker =
  /** `threads`: CPU threads asked for (0: the worker's default); more than one only on a cross-origin isolated page. */
  /** `wrongKernel`: test-only, a deliberately wrong GPU kernel for the WebGPU self-check to catch. */
  /** `checkFault`: test-only, the self-check's own worker runs out of memory. */
  | { type: 'load'; source: ModelSource; backend: BackendChoice; threads: number; wrongKernel?: boolean; checkFault?: 'oom' }
  | { type: 'backend'; backend: BackendChoice }
  | { type: 'generate'; request: GenerateRequest; paused: boolean }
  | { type: 'speculate'; request: SpeculateRequest }
  | { type: 'compare'; request: CompareRequest }
  | { type: 'branch'; request: BranchRequest }
  | { type: 'step' }
  | { type: 'resume' }
  /** Stops any running mode. */
  | { type: 'stop' }
  | { type: 'score'; request: ScoreRequest }
  | { type: 'clear-cache' }
  /** Test-only: the next forward pass panics, or runs out of memory (see testHooks.ts). */
  | { type: 'fault'; kind: 'panic' | 'oom' };

/** Worker → page. */
export type FromWorker =
  | { type: 'engine'; version: string }
  /** The file's header, read before its weights: what it is, and the memory it needs per backend (`backend`: where it would run). */
  | { type: 'inspected'; header: HeaderFacts; cpu: MemoryEstimate; webgpu: MemoryEstimate; backend: 'cpu' | 'webgpu' }
  | { type: 'progress'; loaded: number; total: number | null; phase: LoadPhase }
  /** A model is ready; `switch`: the loaded model moved to another backend. */
  | { type: 'loaded'; facts: ModelFacts; from: 'network' | 'cache' | 'file' | 'switch'; ms: number }
  /** One event of a generate, speculate, compare or branch run: a step per token, then done. */
  | { type: 'event'; event: RunEvent }
  | { type: 'scored'; events: RunEvent[] }
  | { type: 'cache-cleared'; removed: boolean }
  | { type: 'error'; during: RunKind | 'engine' | 'load' | 'score' | 'cache' | 'backend'; message: string; fatal: boolean };

/** What a load is doing: fetching the file, reading its header, uploading the weights to the GPU or copying them into
 * wasm memory for the CPU backend, or checking WebGPU against the CPU. */
export type LoadPhase = 'download' | 'cache' | 'file' | ReadPhase;
