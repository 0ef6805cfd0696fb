//! The browser's header path: `Header::parse_prefix` over a prefix that grows the way the loader
//! grows it. Whatever the prefix sizes, the answer must be the one `Gguf::parse` gives for the
//! whole file; and a prefix of a longer file must ask for more bytes only inside that file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_gguf::{Gguf, Header, PrefixParse};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let whole = Gguf::parse(data);

    // The loader's loop with a first prefix that depends on the input (the browser starts at
    // 2 MiB, bigger than any input here) and doubling growth.
    let mut want = (len % 251 + 1).min(len);
    let grown = loop {
        match Header::parse_prefix(&data[..want as usize], len) {
            Ok(PrefixParse::NeedBytes(n)) => {
                assert!(n > want, "asked for {n} bytes after {want}");
                assert!(n <= len, "asked for {n} bytes of a {len}-byte file");
                want = n.max(2 * want).min(len);
            }
            other => break other,
        }
    };
    match (&grown, &whole) {
        (Ok(PrefixParse::Complete(h)), Ok(g)) => {
            assert_eq!(h.version, g.version);
            // Debug text, so that NaN metadata compares equal to itself.
            assert_eq!(format!("{:?}", h.metadata), format!("{:?}", g.metadata));
            assert_eq!(h.tensors, g.tensors);
            assert_eq!((h.alignment, h.data_offset), (g.alignment, g.data_offset));
            assert_eq!(h.file_len, len);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("prefix parse gave {grown:?}, whole parse gave {whole:?}"),
    }

    // The input as the first bytes of a longer file (the header may end beyond them).
    for file_len in [len + 1 + len % 4096, u64::MAX] {
        match Header::parse_prefix(data, file_len) {
            Ok(PrefixParse::NeedBytes(n)) => assert!(n > len && n <= file_len),
            Ok(PrefixParse::Complete(h)) => {
                assert_eq!(h.file_len, file_len);
                for t in &h.tensors {
                    let end = t.file_offset.checked_add(t.n_bytes);
                    assert!(
                        end.is_some_and(|e| e <= file_len),
                        "{t:?} ends past the file"
                    );
                }
            }
            Err(_) => {}
        }
    }
});
