//! [`Engine`]: one loaded model inside the worker, on WebGPU or the CPU backend, and the runs on it.
//!
//! Runs are async (WebGPU's readback must be awaited), so the engine's state sits behind an
//! `Rc<RefCell>` that each run's future holds while it runs: a second call during a run is
//! answered with a "busy" error, never a panic. `stop` only sets a flag, so it works mid-run.
#![allow(
    clippy::await_holding_refcell_ref,
    reason = "the borrow is the run's lock: a second call meets try_borrow_mut's error"
)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::rc::Rc;

use serde::Serialize;
use tokscope_gpu::{GpuContext, LoadOptions};
use tokscope_model::context::DEFAULT_CONTEXT;
use tokscope_model::cpu::{CpuBackend, Precision};
use tokscope_model::{Backend, ModelError};
use tokscope_session::{
    Drafter, Event, GenerateOptions, Generation, ScoreOptions, Session, SessionError,
    SpeculateOptions, compare_async,
};
use tokscope_tokenizer::{ChatTemplate, Tokenizer};
use tsify::Tsify;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::load::{Blob, BlobFile, Model, Phase, Unloaded, js_message};
use crate::options::{
    AdapterHint, BackendChoice, BranchRequest, CompareRequest, DrafterKind, GenerateRequest,
    LoadRequest, ScoreRequest, SpeculateRequest,
};
use crate::reference::Reference;
use crate::selfcheck::{self, SelfCheck};
use crate::threads;
use crate::yielding::Yielding;
use crate::{js_error, to_js};

/// Context of the extra conditions of a compare run (a second and third KV cache of the model).
const CONDITION_N_CTX: usize = 1024;

/// Where the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cpu,
    WebGpu,
}

/// What the model bar shows about a loaded model (`to_js` writes an absent value as null).
#[derive(Clone, Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct ModelFacts {
    name: Option<String>,
    architecture: String,
    parameters: u64,
    file_bytes: usize,
    /// Tensor count per ggml type, e.g. `{"Q4_1": 210, "F32": 61}` (an object: see `to_js`).
    #[tsify(type = "Record<string, number>")]
    tensor_types: BTreeMap<String, usize>,
    vocab_size: usize,
    context_train: usize,
    context: usize,
    layers: usize,
    embedding: usize,
    heads: usize,
    kv_heads: usize,
    chat_template: bool,
    /// Why the model takes raw text only, when it has no usable chat template.
    chat_note: Option<String>,
    /// The backend in use: "webgpu: <adapter> (f32)" or "wasm cpu (...)".
    backend: String,
    /// The WebGPU adapter, when the browser gave one to the worker.
    webgpu: Option<String>,
    /// Why the engine is not on the backend that was asked for, if it is not.
    backend_note: Option<String>,
    /// The last WebGPU self-check (`selfcheck`), if the model was ever put on WebGPU.
    self_check: Option<SelfCheck>,
    /// Why the last self-check could not run (its CPU side failed): the model then runs on
    /// WebGPU unchecked.
    self_check_error: Option<String>,
}

/// The engine's state: the model (its `Blob`, kept to build other backends from), the session and its run.
struct Inner {
    /// What the worker learnt of the WebGPU adapter (the browser's WebGPU tells wgpu nothing).
    adapter: Option<AdapterHint>,
    /// The CPU backend's threads: 1 unless the page is cross-origin isolated (see `threads`).
    threads: usize,
    tuning: LoadOptions,
    precision: Precision,
    model: Model,
    n_ctx: usize,
    kind: Kind,
    gpu: Option<GpuContext>,
    session: Session,
    /// Further sessions on the same model for compare's conditions b and c, made on first use.
    conditions: Vec<Session>,
    facts: ModelFacts,
    generation: Option<Generation>,
    pause: Option<js_sys::Function>,
    /// Starts the self-check's CPU side in a worker of its own; returns a promise of its
    /// `SelfCheckReference`.
    reference: Option<js_sys::Function>,
}

/// A model ready to run in the browser.
#[wasm_bindgen]
pub struct Engine {
    inner: Rc<RefCell<Inner>>,
    stop: Rc<Cell<bool>>,
}

/// Reads a GGUF file from `model` (a `Blob`, read slice by slice: see `load`) and prepares the model
/// as `options` say: backend "auto" (WebGPU where the browser has it, else the CPU), "webgpu" or
/// "cpu"; context (2048 when absent); CPU threads (more than one in the threaded build only).
/// `pause` returns a promise that lets the worker handle its messages (see `Yielding`); `progress`
/// is called with `(loaded, total, phase)` as the file is read (`parse` for the header, then
/// `upload` or `memory` for the weights uploaded or copied into memory, `check` for the WebGPU
/// self-check). `reference` starts the self-check's CPU side (`selfCheckReference` in a worker of
/// its own) and returns its promise; without it a model on WebGPU runs unchecked. Rejects with a
/// readable message for files that are not GGUF, truncated, unreadable or unsupported.
#[wasm_bindgen(js_name = loadEngine)]
pub async fn load_engine(
    model: Blob,
    #[wasm_bindgen(unchecked_param_type = "LoadRequest")] options: JsValue,
    #[wasm_bindgen(unchecked_param_type = "(() => Promise<unknown>) | undefined")] pause: Option<
        js_sys::Function,
    >,
    #[wasm_bindgen(
        unchecked_param_type = "((loaded: number, total: number, phase: ReadPhase) => void) | undefined"
    )]
    progress: Option<js_sys::Function>,
    #[wasm_bindgen(unchecked_param_type = "(() => Promise<SelfCheckReference>) | undefined")]
    reference: Option<js_sys::Function>,
) -> Result<Engine, JsError> {
    let options: LoadRequest = serde_wasm_bindgen::from_value(options).map_err(js_error)?;
    let tuning = options.tuning();
    let precision = options.precision();
    let n_ctx = options.n_ctx;
    let backend = options.backend;
    let model = BlobFile::new(model, progress)
        .and_then(Model::open)
        .map_err(js_error)?;
    let file_bytes = model.len() as usize;
    let file = model.file();
    let config = &file.config;
    // Past the model's context length the page gets that; past what memory allows, an error.
    let n_ctx = config
        .context_size(n_ctx, DEFAULT_CONTEXT)
        .map_err(js_error)?;
    let mut tensor_types = BTreeMap::new();
    for t in &file.tensors {
        *tensor_types.entry(t.ggml_type.to_string()).or_insert(0) += 1;
    }
    let facts = ModelFacts {
        name: file.metadata.get_str("general.name").map(str::to_string),
        architecture: file
            .metadata
            .get_str("general.architecture")
            .unwrap_or("unknown")
            .to_string(),
        parameters: file.tensors.iter().map(|t| t.n_elements).sum(),
        file_bytes,
        tensor_types,
        vocab_size: config.n_vocab,
        context_train: config.n_ctx_train,
        context: n_ctx,
        layers: config.n_layer,
        embedding: config.n_embd,
        heads: config.n_head,
        kv_heads: config.n_head_kv,
        chat_template: false,
        chat_note: None,
        backend: String::new(),
        webgpu: None,
        backend_note: None,
        self_check: None,
        self_check_error: None,
    };
    // The tokenizer and template are checked before any weights are read; `switch` then puts
    // the model on a backend.
    let tokenizer = Tokenizer::from_gguf(&file.metadata).map_err(js_error)?;
    let template = ChatTemplate::for_model(&file.metadata, &tokenizer);
    let unloaded = Box::new(Unloaded {
        config: config.clone(),
    });
    let session = Session::new(unloaded, tokenizer, template);
    let mut inner = Inner {
        adapter: options.adapter,
        threads: threads::available(options.threads),
        tuning,
        precision,
        model,
        n_ctx,
        kind: Kind::Cpu,
        gpu: None,
        session,
        conditions: Vec::new(),
        facts,
        generation: None,
        pause,
        reference,
    };
    inner.facts.chat_template = inner.session.template.is_ok();
    inner.facts.chat_note = inner
        .session
        .template
        .as_ref()
        .err()
        .map(|why| why.to_string());
    // What the browser offers, even where the model stays on the CPU.
    inner.facts.webgpu = inner.adapter.as_ref().map(|a| a.description.clone());
    inner.switch(backend).await?;
    Ok(Engine {
        inner: Rc::new(RefCell::new(inner)),
        stop: Rc::new(Cell::new(false)),
    })
}

impl Inner {
    /// A session on the loaded model, on `kind`'s backend with a cache of `n_ctx` positions (the
    /// GPU context must exist for WebGPU).
    /// On the CPU it waits until the pool's threads run (see `threads`).
    async fn new_session(&mut self, kind: Kind, n_ctx: usize) -> Result<Session, JsError> {
        let metadata = &self.model.file().metadata;
        let tokenizer = Tokenizer::from_gguf(metadata).map_err(js_error)?;
        let template = ChatTemplate::for_model(metadata, &tokenizer);
        let backend: Box<dyn Backend> = match (kind, &self.gpu) {
            (Kind::WebGpu, Some(ctx)) => {
                Box::new(self.model.gpu(ctx, n_ctx, self.tuning).map_err(js_error)?)
            }
            (Kind::WebGpu, None) => return Err(JsError::new("WebGPU is not available")),
            (Kind::Cpu, _) => {
                let file = self.model.in_memory().map_err(js_error)?;
                let mut cpu =
                    CpuBackend::with_context(file, self.threads, n_ctx).map_err(js_error)?;
                cpu.set_precision(self.precision);
                threads::started().await?;
                Box::new(cpu)
            }
        };
        let backend = Yielding::new(backend, self.pause.clone());
        Ok(Session::new(Box::new(backend), tokenizer, template))
    }

    /// Moves the model to the backend named by `choice`; "auto" takes WebGPU where the browser
    /// has it and falls back to the CPU (saying why in the facts) when it fails.
    async fn switch(&mut self, choice: BackendChoice) -> Result<(), JsError> {
        let auto = choice == BackendChoice::Auto;
        let want = match choice {
            BackendChoice::Cpu => Kind::Cpu,
            BackendChoice::Webgpu | BackendChoice::Auto => Kind::WebGpu,
        };
        self.generation = None;
        self.conditions.clear();
        self.facts.backend_note = None;
        if want == Kind::WebGpu && self.gpu.is_none() {
            match GpuContext::new().await {
                Ok(mut ctx) => {
                    if self.adapter.as_ref().is_some_and(|a| a.subgroups) {
                        ctx.device_has_subgroups();
                    }
                    self.facts.webgpu = Some(match &self.adapter {
                        Some(a) if !a.description.is_empty() => a.description.clone(),
                        _ => ctx.describe(),
                    });
                    // The browser's wgpu sees only the fallback flag; the page's hint also knows
                    // software adapters by name. crates/gpu's load policy then picks the kernels
                    // for a CPU-run adapter, as natively.
                    if self.adapter.as_ref().is_some_and(|a| a.software) {
                        ctx.adapter_is_software();
                    }
                    self.gpu = Some(ctx);
                }
                Err(e) if auto => {
                    self.facts.backend_note = Some(format!("WebGPU: {e}"));
                }
                Err(e) => return Err(JsError::new(&format!("WebGPU: {e}"))),
            }
        }
        let software = self.adapter.as_ref().is_some_and(|a| a.software);
        let kind = if self.gpu.is_none() {
            Kind::Cpu
        } else if auto && software {
            // As natively: an adapter that runs on the CPU is slower than the wasm CPU backend.
            self.facts.backend_note = Some(
                "the WebGPU adapter runs on the CPU, slower than the wasm CPU backend: \
                 choose webgpu to use it anyway"
                    .into(),
            );
            Kind::Cpu
        } else {
            want
        };
        if kind != self.kind || self.facts.backend.is_empty() {
            // The check's CPU side starts first: its worker runs while this one uploads.
            let reference = (kind == Kind::WebGpu).then(|| self.start_reference());
            match self.new_session(kind, self.n_ctx).await {
                Ok(mut session) if kind == Kind::WebGpu => {
                    let reference = reference.unwrap_or_else(|| Err("not started".into()));
                    match self.self_check(&mut session, reference).await {
                        Checked::Passed | Checked::NotRun => {
                            self.session = session;
                            self.kind = kind;
                        }
                        Checked::Failed(why) => {
                            drop(session);
                            self.facts.backend_note = Some(why);
                            if self.kind != Kind::Cpu || self.facts.backend.is_empty() {
                                self.session = self.new_session(Kind::Cpu, self.n_ctx).await?;
                            }
                            self.kind = Kind::Cpu;
                        }
                    }
                }
                Ok(session) => {
                    self.session = session;
                    self.kind = kind;
                }
                Err(e) if auto => {
                    let message: JsValue = e.into();
                    self.facts.backend_note = Some(format!(
                        "WebGPU: {}",
                        js_sys::Error::from(message).message()
                    ));
                    if self.facts.backend.is_empty() {
                        // The first load: no CPU session to fall back on yet.
                        self.session = self.new_session(Kind::Cpu, self.n_ctx).await?;
                    }
                    self.kind = Kind::Cpu;
                }
                Err(e) => return Err(e),
            }
        }
        self.facts.backend = match self.kind {
            Kind::WebGpu => format!(
                "webgpu: {} ({})",
                self.facts.webgpu.as_deref().unwrap_or("adapter"),
                self.session.backend().describe()
            ),
            Kind::Cpu => format!("wasm {}", self.session.backend().describe()),
        };
        Ok(())
    }

    /// Starts the self-check's CPU side (the worker's `reference` callback): a promise of its
    /// `SelfCheckReference`, or why there is none.
    fn start_reference(&self) -> Result<js_sys::Promise, String> {
        let start = self
            .reference
            .as_ref()
            .ok_or("the page gave the engine no way to run it")?;
        let value = start.call0(&JsValue::NULL).map_err(|e| js_message(&e))?;
        value
            .dyn_into::<js_sys::Promise>()
            .map_err(|_| "its worker gave no promise".into())
    }

    /// Runs [`selfcheck::TEXT`] on `gpu` (a fresh WebGPU session) and compares its logits with
    /// the CPU side's (`reference`, started before the upload and running meanwhile), filling
    /// the facts' self-check.
    async fn self_check(
        &mut self,
        gpu: &mut Session,
        reference: Result<js_sys::Promise, String>,
    ) -> Checked {
        let start = js_sys::Date::now();
        self.model.report_step(Phase::Check);
        self.facts.self_check = None;
        self.facts.self_check_error = None;
        let n_vocab = self.model.file().config.n_vocab;
        let got = match selfcheck::tokens(&gpu.tokenizer) {
            Ok(tokens) => selfcheck::logits(gpu.backend_mut(), &tokens)
                .await
                .map(|logits| (tokens, logits))
                .map_err(|e| format!("on WebGPU: {e}")),
            Err(e) => Err(e.to_string()),
        };
        let gpu_ms = js_sys::Date::now() - start;
        let (tokens, got) = match got {
            Ok(got) => got,
            Err(e) => {
                return Checked::Failed(format!(
                    "the WebGPU self-check failed, so the model runs on the CPU: {e}"
                ));
            }
        };
        let reference = match reference {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(|e| js_message(&e))
                .and_then(|value| Reference::from_js(&value, n_vocab, &tokens)),
            Err(e) => Err(e),
        };
        let reference = match reference {
            Ok(reference) => reference,
            Err(e) => {
                // Its worker failed (out of memory, say): the model runs on WebGPU unchecked.
                self.facts.self_check_error = Some(format!("its CPU side could not run: {e}"));
                return Checked::NotRun;
            }
        };
        let mut check = selfcheck::compare(&reference.logits, &got, n_vocab);
        check.ms = js_sys::Date::now() - start;
        check.gpu_ms = gpu_ms;
        check.reference_ms = reference.ms;
        let verdict = if check.passed {
            Checked::Passed
        } else {
            Checked::Failed(format!(
                "WebGPU disagreed with the CPU backend in the self-check, so the model runs on \
                 the CPU: {}",
                check.describe()
            ))
        };
        self.facts.self_check = Some(check);
        verdict
    }

    /// A run's error for the page. A failure of the GPU itself (device lost, out of memory) moves
    /// the model to the CPU backend, so the page stays usable; the message says so.
    async fn fail(&mut self, e: SessionError) -> JsError {
        if self.kind == Kind::WebGpu && matches!(e, SessionError::Model(ModelError::Device(_))) {
            self.gpu = None;
            self.kind = Kind::Cpu;
            if let Ok(session) = self.new_session(Kind::Cpu, self.n_ctx).await {
                self.session = session;
            }
            self.conditions.clear();
            self.facts.backend = format!("wasm {}", self.session.backend().describe());
            self.facts.backend_note = Some(format!("WebGPU failed: {e}"));
            return JsError::new(&format!("{e} (the engine switched to the CPU backend)"));
        }
        js_error(e)
    }
}

/// What a self-check decided.
enum Checked {
    /// WebGPU agrees with the CPU: the model runs there.
    Passed,
    /// The CPU side could not run: the model runs on WebGPU, unchecked (the facts say why).
    NotRun,
    /// WebGPU disagrees or failed: the model stays on the CPU, for the reason given.
    Failed(String),
}

/// Borrows the engine's state for one call; a call during a run gets an error, not a panic.
fn borrow(inner: &Rc<RefCell<Inner>>) -> Result<std::cell::RefMut<'_, Inner>, JsError> {
    inner
        .try_borrow_mut()
        .map_err(|_| JsError::new("the engine is busy with another run: stop it first"))
}

/// The callback that streams a run's events to `on_event`, breaking once `stop` is set.
fn streamer<'a>(
    on_event: &'a js_sys::Function,
    stop: &'a Cell<bool>,
) -> impl FnMut(&Event) -> ControlFlow<()> + 'a {
    move |event| {
        if let Ok(value) = to_js(event) {
            let _ = on_event.call1(&JsValue::NULL, &value);
        }
        if stop.get() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[wasm_bindgen]
impl Engine {
    /// The model's facts: architecture, parameters, tensor types, vocabulary, context, backend.
    #[wasm_bindgen(unchecked_return_type = "ModelFacts")]
    pub fn facts(&self) -> Result<JsValue, JsError> {
        to_js(&borrow(&self.inner)?.facts)
    }

    /// Moves the model to another backend ("auto", "webgpu" or "cpu"); resolves to the new facts.
    #[wasm_bindgen(js_name = switchBackend, unchecked_return_type = "Promise<ModelFacts>")]
    pub fn switch_backend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BackendChoice")] backend: JsValue,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let backend: BackendChoice =
                serde_wasm_bindgen::from_value(backend).map_err(js_error)?;
            let mut inner = borrow(&inner)?;
            inner.switch(backend).await?;
            Ok(to_js(&inner.facts)?)
        })
    }

    /// Token ids of `text`; `special` parses control tokens such as `<|im_start|>`.
    pub fn tokenize(&self, text: &str, special: bool) -> Result<Vec<u32>, JsError> {
        borrow(&self.inner)?
            .session
            .tokenizer
            .encode(text, special)
            .map_err(js_error)
    }

    /// Starts a generate run (`GenerateRequest`) and runs the prompt's prefill;
    /// a run already in progress is dropped.
    #[wasm_bindgen(js_name = startGenerate, unchecked_return_type = "Promise<void>")]
    pub fn start_generate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GenerateRequest")] request: JsValue,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        self.stop.set(false);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            state.generation = None;
            let request: GenerateRequest =
                serde_wasm_bindgen::from_value(request).map_err(js_error)?;
            let opts: GenerateOptions = request.into();
            match state.session.start_generate_async(&opts).await {
                Ok(generation) => state.generation = Some(generation),
                Err(e) => return Err(state.fail(e).await.into()),
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Resolves to the run's next event (a step, then the done event), or `undefined` when it is
    /// over.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunEvent | undefined>")]
    pub fn next(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        let stop = self.stop.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            let Some(generation) = state.generation.as_mut() else {
                return Ok(JsValue::UNDEFINED);
            };
            if stop.replace(false) {
                generation.stop();
            }
            match generation.next_async(&mut state.session).await {
                Ok(Some(event)) => {
                    if matches!(event, Event::Done(_)) {
                        state.generation = None;
                    }
                    Ok(to_js(&event)?)
                }
                Ok(None) => {
                    state.generation = None;
                    Ok(JsValue::UNDEFINED)
                }
                Err(e) => {
                    state.generation = None;
                    Err(state.fail(e).await.into())
                }
            }
        })
    }

    /// Ends the running run after its current step: a generation's next `next()` gives its done
    /// event; speculate, compare and branch end with theirs.
    pub fn stop(&self) {
        self.stop.set(true);
    }

    /// Scores `text` under the model (teacher forcing, `ScoreRequest`): resolves to
    /// an array of step events with surprisal and GLTR bucket, then the done event.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunEvent[]>")]
    pub fn score(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ScoreRequest")] request: JsValue,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        self.stop.set(false);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            state.generation = None;
            let request: ScoreRequest =
                serde_wasm_bindgen::from_value(request).map_err(js_error)?;
            let text = state
                .session
                .tokenizer
                .encode(&request.text, false)
                .map_err(js_error)?;
            let opts = ScoreOptions {
                prompt: request.prompt.into(),
                text,
                top_n: request.top_n,
                k: request.k,
            };
            let mut events = Vec::new();
            let mut keep = |e: &Event| {
                events.push(e.clone());
                ControlFlow::Continue(())
            };
            let run = state.session.score_async(&opts, &mut keep).await;
            if let Err(e) = run {
                return Err(state.fail(e).await.into());
            }
            Ok(to_js(&events)?)
        })
    }

    /// Speculative decoding (`SpeculateRequest`): calls `on_event` with each step
    /// and the done event; resolves when the run is over. `drafts` > 1 verifies K draft sequences
    /// per round with K-SEQ (`Session::multidraft`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn speculate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SpeculateRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: RunEvent) => void")]
        on_event: js_sys::Function,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        let stop = self.stop.clone();
        stop.set(false);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            state.generation = None;
            let request: SpeculateRequest =
                serde_wasm_bindgen::from_value(request).map_err(js_error)?;
            let drafts = request.drafts().map_err(|e| JsError::new(&e))?;
            let mut drafter = match request.drafter {
                DrafterKind::Ngram => Drafter::Ngram {
                    max_ngram: request.max_ngram.max(1),
                },
                DrafterKind::Trigram => Drafter::Trigram,
                // The draft layers run on the CPU whatever the target's backend.
                DrafterKind::EarlyExit => Drafter::early_exit_cpu(
                    state.model.in_memory().map_err(js_error)?,
                    request.layers,
                    1,
                    state.n_ctx,
                    state.precision,
                )
                .map_err(js_error)?,
            };
            let generate = request.generate.into();
            let gamma = request.gamma;
            let mut emit = streamer(&on_event, &stop);
            let run = if drafts == 1 {
                let opts = SpeculateOptions { generate, gamma };
                let run = state
                    .session
                    .speculate_async(&mut drafter, &opts, &mut emit);
                run.await
            } else {
                let opts = tokscope_session::MultiDraftOptions {
                    generate,
                    gamma,
                    drafts,
                };
                let run = state
                    .session
                    .multidraft_async(&mut drafter, &opts, &mut emit);
                run.await
            };
            if let Err(e) = run {
                return Err(state.fail(e).await.into());
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Compares two or three conditions of the model (`CompareRequest`), streaming
    /// events to `on_event`. Conditions b and c get their own KV caches on first use.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn compare(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CompareRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: RunEvent) => void")]
        on_event: js_sys::Function,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        let stop = self.stop.clone();
        stop.set(false);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            state.generation = None;
            let request: CompareRequest =
                serde_wasm_bindgen::from_value(request).map_err(js_error)?;
            let opts = request.options();
            let extra = opts.others.len().min(2);
            while state.conditions.len() < extra {
                let n_ctx = state.n_ctx.min(CONDITION_N_CTX);
                let session = state.new_session(state.kind, n_ctx).await?;
                state.conditions.push(session);
            }
            let mut sessions: Vec<&mut Session> = std::iter::once(&mut state.session)
                .chain(state.conditions.iter_mut().take(extra))
                .collect();
            let mut emit = streamer(&on_event, &stop);
            let result = compare_async(&mut sessions, &opts, &mut emit).await;
            drop(sessions);
            if let Err(e) = result {
                return Err(state.fail(e).await.into());
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Continues prompt + prefix with M samples (`BranchRequest`), streaming events
    /// to `on_event`; the KV cache of the previous run is reused up to where the branch forks.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn branch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BranchRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: RunEvent) => void")]
        on_event: js_sys::Function,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        let stop = self.stop.clone();
        stop.set(false);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = borrow(&inner)?;
            let state = &mut *guard;
            state.generation = None;
            let request: BranchRequest =
                serde_wasm_bindgen::from_value(request).map_err(js_error)?;
            let opts = request.into();
            let mut emit = streamer(&on_event, &stop);
            let run = state.session.branch_async(&opts, &mut emit);
            if let Err(e) = run.await {
                return Err(state.fail(e).await.into());
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}
