//! The browser's header path: `Header::parse_prefix` over a prefix that grows the way the loader
//! grows it. Whatever the prefix, the answer must be "read n more bytes" (with the prefix < n <=
//! the file) or the answer `Gguf::parse` gives for the whole file; and a prefix of a longer file
//! must ask for more bytes only inside that file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_gguf::{Gguf, Header, PrefixParse};

/// `parse_prefix` over the first `k` bytes of `data` (a whole file), checked against `whole`;
/// returns the bytes it asked for, if it did.
fn check_prefix(data: &[u8], k: usize, whole: &tokscope_gguf::Result<Gguf>) -> Option<u64> {
    let len = data.len() as u64;
    let got = Header::parse_prefix(&data[..k], len);
    match (&got, whole) {
        (Ok(PrefixParse::NeedBytes(n)), _) => {
            assert!(*n > k as u64, "asked for {n} bytes after {k}");
            assert!(*n <= len, "asked for {n} bytes of a {len}-byte file");
            return Some(*n);
        }
        (Ok(PrefixParse::Complete(h)), Ok(g)) => {
            assert_eq!(h.version, g.version);
            // Debug text, so that NaN metadata compares equal to itself.
            assert_eq!(format!("{:?}", h.metadata), format!("{:?}", g.metadata));
            assert_eq!(h.tensors, g.tensors);
            assert_eq!((h.alignment, h.data_offset), (g.alignment, g.data_offset));
            assert_eq!(h.file_len, len);
        }
        (Err(_), Err(_)) => {}
        // Errors only: a parsed header's Debug text holds the whole file.
        (Ok(_), Err(e)) => panic!("the first {k} bytes gave a header, the whole file {e:?}"),
        (Err(e), Ok(_)) => panic!("the first {k} bytes gave {e:?}, the whole file a header"),
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let len = data.len();
    let whole = Gguf::parse(data);

    // The loader's loop with a first prefix that depends on the input (the browser starts at
    // 2 MiB, bigger than any input here) and doubling growth; each request is also checked one
    // byte short, where the prefix ends inside the item it asked for.
    let mut want = (len % 251 + 1).min(len);
    while let Some(n) = check_prefix(data, want, &whole) {
        // Every item before the one cut still fits in n - 1 >= want bytes: the same request.
        assert_eq!(check_prefix(data, n as usize - 1, &whole), Some(n));
        want = (n as usize).max(2 * want).min(len);
    }
    // Prefixes ending just before the end of the file, where the last item is cut.
    for cut in 1..=len.min(8) {
        check_prefix(data, len - cut, &whole);
    }

    // The input as the first bytes of a longer file (the header may end beyond them).
    let len = len as u64;
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
