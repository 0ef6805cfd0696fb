//! Uploading the weights from a [`TensorSource`] (how the browser streams a model `Blob` slice by
//! slice) against uploading them from the file in memory: the same logits bit for bit, on tiny
//! models (tied and untied heads, both matvec layouts, weights split across bindings) and on the
//! default model; every tensor is read, never the whole file at once; a header-only file is
//! refused by the CPU backend and a failing source fails the load, with errors, not panics.
//!
//! Runs on whatever adapter wgpu finds (lavapipe where the machine has no GPU).

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::PathBuf;

use tokscope_gguf::{GgmlType, Header, PrefixParse};
use tokscope_gpu::{Arithmetic, GpuBackend, GpuContext, LoadOptions, MatvecVariant};
use tokscope_model::cpu::CpuBackend;
use tokscope_model::file::TensorSource;
use tokscope_model::{Backend, LogitsFor, ModelBytes, ModelError, ModelFile};
use tokscope_reference::tiny::{TinySpec, tiny_llama_gguf};

const PROMPT: [u32; 5] = [3, 17, 42, 8, 29];

fn context() -> GpuContext {
    GpuContext::new_blocking().unwrap_or_else(|e| panic!("{e}"))
}

/// A file read piece by piece, as the browser reads a `Blob`: each read is a fresh copy, and
/// every read's range is recorded.
struct Pieces<'a> {
    bytes: &'a [u8],
    reads: RefCell<Vec<(u64, usize)>>,
}

impl<'a> Pieces<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            reads: RefCell::new(Vec::new()),
        }
    }
}

impl TensorSource for Pieces<'_> {
    fn read(&self, offset: u64, len: usize) -> tokscope_model::Result<Cow<'_, [u8]>> {
        self.reads.borrow_mut().push((offset, len));
        let start = offset as usize;
        Ok(Cow::Owned(self.bytes[start..start + len].to_vec()))
    }
}

/// The header-only file: the header parsed from a growing prefix, as the browser does.
fn header_only(bytes: &[u8]) -> ModelFile {
    let mut have = 64;
    let header = loop {
        let prefix = &bytes[..have.min(bytes.len())];
        match Header::parse_prefix(prefix, bytes.len() as u64).unwrap() {
            PrefixParse::Complete(h) => break h,
            PrefixParse::NeedBytes(n) => have = (n as usize).max(2 * have),
        }
    };
    ModelFile::from_header(header).unwrap()
}

fn in_memory(bytes: &[u8]) -> ModelFile {
    ModelFile::from_bytes(ModelBytes::Owned(bytes.to_vec())).unwrap()
}

fn logits(mut backend: GpuBackend) -> Vec<f32> {
    backend.forward(&PROMPT, LogitsFor::All).unwrap()
}

/// Streams `bytes` into a GPU backend and checks it against today's upload from memory.
fn streamed_equals_in_memory(ctx: &GpuContext, bytes: &[u8], options: LoadOptions, what: &str) {
    let want = logits(GpuBackend::with_options(ctx, &in_memory(bytes), 32, options).unwrap());
    let file = header_only(bytes);
    assert!(!file.has_data());
    let source = Pieces::new(bytes);
    let got = logits(GpuBackend::with_source(ctx, &file, &source, 32, options).unwrap());
    assert_eq!(got, want, "{what}");
    // Every tensor was read in full; no single read was the file, or larger than the largest tensor.
    let reads = source.reads.borrow();
    let largest = file.tensors.iter().map(|t| t.n_bytes).max().unwrap() as usize;
    assert!(reads.iter().all(|&(_, len)| len <= largest), "{what}");
    for t in &file.tensors {
        let read: usize = reads
            .iter()
            .filter(|&&(o, _)| o >= t.file_offset && o < t.file_offset + t.n_bytes)
            .map(|&(_, len)| len)
            .sum();
        assert!(read >= t.n_bytes as usize, "{what}: {} read {read}", t.name);
    }
}

#[test]
fn streamed_tiny_models_give_the_same_logits() {
    let ctx = context();
    for tied in [false, true] {
        let spec = TinySpec {
            tied,
            weight_type: GgmlType::Q4_1,
            embd_type: GgmlType::Q8_0,
            ..TinySpec::default()
        };
        let bytes = tiny_llama_gguf(&spec, 5);
        for matvec in [MatvecVariant::Workgroup, MatvecVariant::Rowwise] {
            for max_binding in [None, Some(1024)] {
                let options = LoadOptions {
                    matvec: Some(matvec),
                    max_binding,
                    arithmetic: Some(Arithmetic::F32),
                    ..LoadOptions::default()
                };
                let what = format!("tied {tied}, {matvec:?}, binding {max_binding:?}");
                streamed_equals_in_memory(&ctx, &bytes, options, &what);
            }
        }
    }
}

#[test]
fn streamed_default_model_gives_the_same_logits() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    let bytes = std::fs::read(&path).unwrap();
    streamed_equals_in_memory(&context(), &bytes, LoadOptions::default(), "default model");
}

#[test]
fn a_header_only_file_is_refused_where_the_bytes_must_be_in_memory() {
    let bytes = tiny_llama_gguf(&TinySpec::default(), 1);
    let file = header_only(&bytes);
    let err = CpuBackend::with_context(file.clone(), 1, 16).err().unwrap();
    assert!(err.to_string().contains("not in memory"), "{err}");
    // Without a source, the GPU reads the file itself and says the same.
    let err = GpuBackend::new(&context(), &file, 16).err().unwrap();
    assert!(err.to_string().contains("not in memory"), "{err}");
    // With the bytes read since, it is the file parsed whole.
    let header = match Header::parse_prefix(&bytes, bytes.len() as u64).unwrap() {
        PrefixParse::Complete(h) => h,
        other => panic!("{other:?}"),
    };
    let whole = ModelFile::from_header_and_bytes(header.clone(), ModelBytes::Owned(bytes.clone()));
    assert!(whole.unwrap().has_data());
    let short = ModelFile::from_header_and_bytes(header, ModelBytes::Owned(bytes[1..].to_vec()));
    assert!(short.is_err());
}

/// A source whose reads fail after `ok` of them (a file removed or unreadable mid-load).
struct Failing {
    bytes: Vec<u8>,
    ok: RefCell<usize>,
}

impl TensorSource for Failing {
    fn read(&self, offset: u64, len: usize) -> tokscope_model::Result<Cow<'_, [u8]>> {
        let mut ok = self.ok.borrow_mut();
        if *ok == 0 {
            return Err(ModelError::Io {
                path: "the model file".into(),
                source: std::io::Error::other("NotReadableError"),
            });
        }
        *ok -= 1;
        let start = offset as usize;
        Ok(Cow::Borrowed(&self.bytes[start..start + len]))
    }
}

#[test]
fn a_failing_read_fails_the_load_with_its_message() {
    let bytes = tiny_llama_gguf(&TinySpec::default(), 2);
    let file = header_only(&bytes);
    for ok in [0, 3, 10] {
        let source = Failing {
            bytes: bytes.clone(),
            ok: RefCell::new(ok),
        };
        let result =
            GpuBackend::with_source(&context(), &file, &source, 16, LoadOptions::default());
        let err = result.err().expect("the load fails");
        assert!(err.to_string().contains("NotReadableError"), "{err}");
    }
}
