//! Reading a model from a browser `Blob` (a dropped `File`, a cached or downloaded response) slice
//! by slice: the header from a growing prefix, then the tensors, either uploaded one weight at a
//! time (WebGPU: the file never sits whole in wasm memory) or copied into one wasm-side buffer
//! (the CPU backend computes from the file's bytes in place). The worker keeps the `Blob` inside
//! the engine, so a later switch to the CPU reads it again.
//!
//! Reads are synchronous (`FileReaderSync`, a dedicated worker's API), because the GPU backend
//! asks for each weight while it builds. Every read reports progress to the worker.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use serde::Serialize;
use tokscope_gguf::{Header, MAX_HEADER_BYTES, PrefixParse};
use tokscope_gpu::{GpuBackend, GpuContext, GpuError, LoadOptions};
use tokscope_model::file::TensorSource;
use tokscope_model::{Backend, Config, LogitsFor, ModelBytes, ModelError, ModelFile};
use tsify::Tsify;
use wasm_bindgen::prelude::*;

/// The first read of the header; GGUF headers with a vocabulary of 50k tokens take ~1.5 MiB.
const FIRST_PREFIX: u64 = 1 << 21;
/// Bytes per read when the whole file is copied into wasm memory.
const CHUNK: u64 = 8 << 20;

#[wasm_bindgen]
extern "C" {
    /// A `Blob` (a `File` is one), read by slices.
    #[wasm_bindgen(typescript_type = "Blob")]
    pub type Blob;
    #[wasm_bindgen(method, getter)]
    fn size(this: &Blob) -> f64;
    #[wasm_bindgen(method)]
    fn slice(this: &Blob, start: f64, end: f64) -> Blob;

    type FileReaderSync;
    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<FileReaderSync, JsValue>;
    #[wasm_bindgen(method, catch, js_name = readAsArrayBuffer)]
    fn read_as_array_buffer(
        this: &FileReaderSync,
        blob: &Blob,
    ) -> Result<js_sys::ArrayBuffer, JsValue>;
}

/// What a pass over the file is for, as the progress reports name it (`phase` of the worker's
/// `progress` message).
#[derive(Clone, Copy, Serialize, Tsify)]
#[serde(rename_all = "lowercase")]
#[tsify(rename = "ReadPhase")]
pub enum Phase {
    /// The header and tensor directory.
    Parse,
    /// The weights, each read and uploaded to the GPU.
    Upload,
    /// The whole file copied into wasm memory for the CPU backend.
    Memory,
    /// No read: the WebGPU self-check (reported once, as 0 of 0).
    Check,
}

/// A model file in a `Blob`, read by byte ranges, reporting progress as `(loaded, total, phase)`.
pub struct BlobFile {
    blob: Blob,
    reader: FileReaderSync,
    len: u64,
    progress: Option<js_sys::Function>,
    /// Bytes reported read in the current pass (a header, an upload, a copy).
    loaded: Cell<u64>,
    /// Offsets read in the current pass: a weight uploaded twice (the rowwise kernels' tied
    /// LM head) counts once.
    seen: RefCell<HashSet<u64>>,
    phase: Cell<Phase>,
}

impl BlobFile {
    pub fn new(blob: Blob, progress: Option<js_sys::Function>) -> Result<Self, ModelError> {
        let reader = FileReaderSync::new().map_err(|e| {
            read_error(&format!(
                "no FileReaderSync in this context ({})",
                js_message(&e)
            ))
        })?;
        let len = blob.size() as u64;
        Ok(Self {
            blob,
            reader,
            len,
            progress,
            loaded: Cell::new(0),
            seen: RefCell::new(HashSet::new()),
            phase: Cell::new(Phase::Parse),
        })
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `len` bytes at `offset` into a fresh buffer (an error past the end of the file).
    fn read_exact(&self, offset: u64, len: usize) -> Result<Vec<u8>, ModelError> {
        let mut out = vec![0; len];
        self.read_into(offset, &mut out)?;
        Ok(out)
    }

    /// Fills `out` with the bytes at `offset`.
    fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<(), ModelError> {
        let end = offset
            .checked_add(out.len() as u64)
            .filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(read_error(&format!(
                "bytes {offset}..+{} lie past the end of the {}-byte file",
                out.len(),
                self.len
            )));
        };
        let piece = self.blob.slice(offset as f64, end as f64);
        let buffer = self
            .reader
            .read_as_array_buffer(&piece)
            .map_err(|e| read_error(&js_message(&e)))?;
        let view = js_sys::Uint8Array::new(&buffer);
        if view.length() as usize != out.len() {
            return Err(read_error(&format!(
                "{} bytes read at {offset}, {} asked for (was the file changed?)",
                view.length(),
                out.len()
            )));
        }
        view.copy_to(out);
        Ok(())
    }

    /// Starts a pass of progress reports at `loaded` bytes (reported with the first read, so
    /// the bar never goes back to a smaller number).
    fn start_pass(&self, loaded: u64, phase: Phase) {
        self.seen.borrow_mut().clear();
        self.loaded.set(loaded);
        self.phase.set(phase);
    }

    /// Counts `len` bytes at `offset` (once per offset in a pass) and reports.
    fn advance(&self, offset: u64, len: u64) {
        if self.seen.borrow_mut().insert(offset) {
            self.loaded.set((self.loaded.get() + len).min(self.len));
            self.report();
        }
    }

    /// Ends a pass: everything is read.
    fn finish_pass(&self) {
        self.loaded.set(self.len);
        self.report();
    }

    fn report(&self) {
        self.report_as(self.phase.get(), self.loaded.get(), self.len);
    }

    fn report_as(&self, phase: Phase, loaded: u64, total: u64) {
        if let Some(f) = &self.progress {
            let (loaded, total) = (loaded as f64, total as f64);
            let phase = crate::to_js(&phase).unwrap_or(JsValue::UNDEFINED);
            let _ = f.call3(&JsValue::NULL, &loaded.into(), &total.into(), &phase);
        }
    }

    /// The header, from a prefix that grows until the parser has the tensor directory.
    pub fn header(&self) -> Result<Header, ModelError> {
        self.start_pass(0, Phase::Parse);
        let mut want = FIRST_PREFIX.min(self.len);
        loop {
            let prefix = self.read_exact(0, want as usize)?;
            match Header::parse_prefix(&prefix, self.len)? {
                PrefixParse::Complete(header) => {
                    // The header's own bytes: where the tensor data's reading goes on from.
                    self.loaded.set(header.data_offset.min(want));
                    self.report();
                    return Ok(header);
                }
                // The parser refuses a header past the cap itself; this keeps the loop finite.
                PrefixParse::NeedBytes(n) if n > MAX_HEADER_BYTES => {
                    return Err(ModelError::Invalid(format!(
                        "the GGUF header needs more than {n} bytes (at most {MAX_HEADER_BYTES} are read)"
                    )));
                }
                // Doubling keeps the number of re-parses logarithmic in the header's size.
                PrefixParse::NeedBytes(n) => {
                    self.loaded.set(want);
                    self.report();
                    want = n.max(2 * want).min(self.len).min(MAX_HEADER_BYTES);
                }
            }
        }
    }

    /// The whole file in one wasm-side buffer, read in chunks (no whole-file JS copy is kept).
    pub fn read_all(&self) -> Result<Vec<u8>, ModelError> {
        let len = usize::try_from(self.len)
            .map_err(|_| ModelError::Invalid(format!("a {}-byte file", self.len)))?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(len)
            .map_err(|_| ModelError::Invalid(format!("no memory for the {len}-byte file")))?;
        self.start_pass(0, Phase::Memory);
        let mut offset = 0;
        while offset < self.len {
            let n = CHUNK.min(self.len - offset) as usize;
            let start = bytes.len();
            bytes.resize(start + n, 0);
            self.read_into(offset, &mut bytes[start..])?;
            self.advance(offset, n as u64);
            offset += n as u64;
        }
        self.finish_pass();
        Ok(bytes)
    }
}

impl TensorSource for BlobFile {
    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, ModelError> {
        let bytes = self.read_exact(offset, len)?;
        self.advance(offset, len as u64);
        Ok(Cow::Owned(bytes))
    }
}

/// A model behind a `Blob`: its header always, its bytes in wasm memory only while a backend
/// that computes from them (the CPU) needs them.
pub struct Model {
    blob: BlobFile,
    /// The parsed header (no tensor bytes).
    header: ModelFile,
    /// The header's alignment and data offset, to rebuild a [`Header`] without keeping a second
    /// copy of the metadata (the vocabulary takes megabytes).
    layout: (u64, u64),
    full: Option<ModelFile>,
}

impl Model {
    /// Reads and checks the header (a file that is not GGUF, or is truncated, fails here).
    pub fn open(blob: BlobFile) -> Result<Self, ModelError> {
        let parsed = blob.header()?;
        let layout = (parsed.alignment, parsed.data_offset);
        Ok(Self {
            blob,
            header: ModelFile::from_header(parsed)?,
            layout,
            full: None,
        })
    }

    /// The parsed file: metadata, tensor directory, config.
    pub fn file(&self) -> &ModelFile {
        self.full.as_ref().unwrap_or(&self.header)
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.blob.len()
    }

    /// The file with its bytes in wasm memory, read from the `Blob` the first time.
    pub fn in_memory(&mut self) -> Result<ModelFile, ModelError> {
        if let Some(file) = &self.full {
            return Ok(file.clone());
        }
        let bytes = ModelBytes::Owned(self.blob.read_all()?);
        let header = Header {
            version: self.header.version,
            metadata: self.header.metadata.clone(),
            tensors: self.header.tensors.clone(),
            alignment: self.layout.0,
            data_offset: self.layout.1,
            file_len: self.blob.len(),
        };
        let file = ModelFile::from_header_and_bytes(header, bytes)?;
        self.full = Some(file.clone());
        Ok(file)
    }

    /// The model on the GPU: from wasm memory where the bytes are there, else streamed from the
    /// `Blob` one weight at a time. The in-memory copy is then let go (the GPU has the weights;
    /// the CPU backend, if asked for again, reads the `Blob` again).
    pub fn gpu(
        &mut self,
        ctx: &GpuContext,
        n_ctx: usize,
        options: LoadOptions,
    ) -> Result<GpuBackend, GpuError> {
        let backend = match &self.full {
            Some(file) => GpuBackend::with_options(ctx, file, n_ctx, options)?,
            None => {
                self.blob.start_pass(self.header_bytes(), Phase::Upload);
                let backend =
                    GpuBackend::with_source(ctx, &self.header, &self.blob, n_ctx, options)?;
                self.blob.finish_pass();
                backend
            }
        };
        self.full = None;
        Ok(backend)
    }

    /// Tells the page that the load has gone on to `phase`, a step that reads nothing.
    pub fn report_step(&self, phase: Phase) {
        self.blob.report_as(phase, 0, 0);
    }

    /// Bytes before the tensor data: what reading the header covered.
    fn header_bytes(&self) -> u64 {
        self.layout.1
    }
}

/// A session's backend before the first real one is made: every run is refused.
pub struct Unloaded {
    pub config: Config,
}

impl Backend for Unloaded {
    fn config(&self) -> &Config {
        &self.config
    }
    fn n_ctx(&self) -> usize {
        0
    }
    fn cache_len(&self) -> usize {
        0
    }
    fn truncate(&mut self, _len: usize) {}
    fn forward(&mut self, _tokens: &[u32], _which: LogitsFor) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Invalid(
            "the model is not loaded on a backend".into(),
        ))
    }
    fn describe(&self) -> String {
        "not loaded".into()
    }
}

/// A failed read of the model file.
fn read_error(message: &str) -> ModelError {
    ModelError::Io {
        path: "the model file".into(),
        source: std::io::Error::other(message.to_string()),
    }
}

/// The message of a thrown JS value (an `Error`'s, else its string form).
pub(crate) fn js_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}
