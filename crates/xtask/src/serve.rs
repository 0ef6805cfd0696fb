//! `cargo xtask serve`: a small static file server for `web/dist` plus the models folder.
//! One thread per connection, GET/HEAD only, single byte ranges (the page reads GGUF files in pieces).

use crate::util;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;

/// URL prefix under which files of the `models/` folder are served.
pub const MODELS_PREFIX: &str = "/models/";

/// Where the server reads files from.
#[derive(Clone, Debug)]
pub struct Roots {
    /// The static site (index.html at its top).
    pub site: PathBuf,
    /// GGUF files, served under [`MODELS_PREFIX`].
    pub models: PathBuf,
}

impl Roots {
    /// The project's own folders: `web/dist` and `models/`.
    pub fn project() -> Self {
        Roots {
            site: util::web_dir().join("dist"),
            models: util::models_dir(),
        }
    }
}

/// Binds 127.0.0.1:`port` (0 picks a free port) and serves in a background thread.
pub fn start(port: u16, roots: Roots) -> Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} (in use? try --port)"))?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let roots = roots.clone();
            thread::spawn(move || {
                // A client that hangs up mid-transfer is normal (range probing, reloads).
                let _ = handle(stream, &roots);
            });
        }
    });
    Ok(addr)
}

fn handle(stream: TcpStream, roots: &Roots) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let mut out = io::BufWriter::new(stream);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return respond_empty(
            &mut out,
            "405 Method Not Allowed",
            &[("Allow", "GET, HEAD")],
        );
    }
    if target.split(['?', '#']).next() == Some(crate::catalog::INDEX_PATH) {
        let body = crate::catalog::index(&roots.models).to_string();
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )?;
        write_common_headers(&mut out, isolates(target))?;
        if method == "GET" {
            out.write_all(body.as_bytes())?;
        }
        return out.flush();
    }
    let Some(path) = resolve(target, roots) else {
        return respond_empty(&mut out, "404 Not Found", &[]);
    };
    let Ok(mut file) = File::open(&path) else {
        return respond_empty(&mut out, "404 Not Found", &[]);
    };
    let len = file.metadata()?.len();
    let ctype = content_type(&path);
    let (status, start, count, content_range) = match range.as_deref().map(|r| parse_range(r, len))
    {
        None | Some(ByteRange::Whole) => ("200 OK", 0, len, None),
        Some(ByteRange::Part { start, end }) => (
            "206 Partial Content",
            start,
            end - start + 1,
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        Some(ByteRange::Unsatisfiable) => {
            let cr = format!("bytes */{len}");
            return respond_empty(
                &mut out,
                "416 Range Not Satisfiable",
                &[("Content-Range", &cr)],
            );
        }
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {count}\r\n"
    )?;
    if let Some(cr) = content_range {
        write!(out, "Content-Range: {cr}\r\n")?;
    }
    write_common_headers(&mut out, isolates(target))?;
    if method == "GET" {
        file.seek(SeekFrom::Start(start))?;
        io::copy(&mut file.take(count), &mut out)?;
    }
    out.flush()
}

fn respond_empty(out: &mut impl Write, status: &str, headers: &[(&str, &str)]) -> io::Result<()> {
    write!(out, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n")?;
    for (k, v) in headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write_common_headers(out, true)?;
    out.flush()
}

/// Whether a response carries the cross-origin isolation headers: all do but those asked for with
/// `?isolation=off`, so a page can be opened as an ordinary static host serves it (no wasm threads).
fn isolates(target: &str) -> bool {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    !query.split('&').any(|pair| pair == "isolation=off")
}

/// Headers on every response: ranges, no stale caching during development, and (where `isolate`)
/// cross-origin isolation so the page may use SharedArrayBuffer (wasm threads).
fn write_common_headers(out: &mut impl Write, isolate: bool) -> io::Result<()> {
    write!(out, "Accept-Ranges: bytes\r\nCache-Control: no-cache\r\n")?;
    if isolate {
        write!(
            out,
            "Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n"
        )?;
    }
    write!(out, "Connection: close\r\n\r\n")
}

/// Maps a request target to a file, refusing anything that could leave the served folders.
pub fn resolve(target: &str, roots: &Roots) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = percent_decode(path)?;
    if !path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return None;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == ".." || *s == ".") {
        return None;
    }
    if let Some(name) = path.strip_prefix(MODELS_PREFIX) {
        return (segments.len() == 2)
            .then(|| roots.models.join(name))
            .filter(|p| p.is_file());
    }
    let mut file = roots.site.clone();
    file.extend(&segments);
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type for a file, by extension (browsers require the exact one for .wasm and modules).
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "wgsl" => "text/wgsl; charset=utf-8",
        _ => "application/octet-stream", // .gguf and anything else: raw bytes
    }
}

/// The outcome of a `Range` header for a file of a given length.
#[derive(Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: send the whole file (also for syntax we do not support, as RFC 9110 allows).
    Whole,
    /// Inclusive byte positions.
    Part { start: u64, end: u64 },
    /// The range starts past the end of the file.
    Unsatisfiable,
}

/// Parses a single-range `bytes=a-b`, `bytes=a-` or `bytes=-n` header.
pub fn parse_range(header: &str, len: u64) -> ByteRange {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end.min(len.saturating_sub(1)))),
        (Ok(start), Err(_)) if b.is_empty() => Some((start, len.saturating_sub(1))),
        (Err(_), Ok(suffix)) if a.is_empty() => {
            if suffix == 0 {
                return ByteRange::Unsatisfiable;
            }
            Some((len.saturating_sub(suffix), len.saturating_sub(1)))
        }
        _ => None,
    };
    match parsed {
        None => ByteRange::Whole,
        Some((start, _)) if start >= len => ByteRange::Unsatisfiable,
        Some((start, end)) => ByteRange::Part { start, end },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn parses_byte_ranges() {
        assert_eq!(
            parse_range("bytes=0-3", 10),
            ByteRange::Part { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range("bytes=4-", 10),
            ByteRange::Part { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=-3", 10),
            ByteRange::Part { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=-30", 10),
            ByteRange::Part { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=5-100", 10),
            ByteRange::Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range("bytes=10-", 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 10), ByteRange::Whole);
        assert_eq!(parse_range("bytes=0-1,4-5", 10), ByteRange::Whole);
        assert_eq!(parse_range("items=0-1", 10), ByteRange::Whole);
    }

    #[test]
    fn isolation_is_dropped_only_where_the_query_asks() {
        assert!(isolates("/"));
        assert!(isolates("/index.html?x=1#isolation=off"));
        assert!(isolates("/?isolation=offline"));
        assert!(!isolates("/?isolation=off"));
        assert!(!isolates("/index.html?a=b&isolation=off#backend=cpu"));
    }

    #[test]
    fn content_types_browsers_insist_on() {
        assert_eq!(content_type(Path::new("a/b.wasm")), "application/wasm");
        assert!(content_type(Path::new("x.js")).starts_with("text/javascript"));
        assert_eq!(
            content_type(Path::new("m.gguf")),
            "application/octet-stream"
        );
    }

    fn temp_roots(tag: &str) -> Roots {
        let base = std::env::temp_dir().join(format!("xtask-serve-{tag}-{}", std::process::id()));
        let roots = Roots {
            site: base.join("site"),
            models: base.join("models"),
        };
        fs::create_dir_all(roots.site.join("assets")).unwrap();
        fs::create_dir_all(&roots.models).unwrap();
        fs::write(roots.site.join("index.html"), "<!doctype html>hi").unwrap();
        fs::write(roots.site.join("assets/app.js"), "export {}").unwrap();
        fs::write(roots.models.join("m.gguf"), b"GGUF\x03\0\0\0rest").unwrap();
        roots
    }

    #[test]
    fn resolves_inside_the_roots_only() {
        let roots = temp_roots("resolve");
        assert_eq!(resolve("/", &roots), Some(roots.site.join("index.html")));
        assert_eq!(
            resolve("/assets/app.js?v=1", &roots),
            Some(roots.site.join("assets/app.js"))
        );
        assert_eq!(
            resolve("/models/m.gguf", &roots),
            Some(roots.models.join("m.gguf"))
        );
        assert_eq!(resolve("/../site/index.html", &roots), None);
        assert_eq!(resolve("/assets/%2e%2e/index.html", &roots), None);
        assert_eq!(resolve("/models/../site/index.html", &roots), None);
        assert_eq!(resolve("/missing.js", &roots), None);
        fs::remove_dir_all(roots.site.parent().unwrap()).unwrap();
    }

    fn get(addr: SocketAddr, request: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_ranges_over_http() {
        let roots = temp_roots("http");
        let addr = start(0, roots.clone()).unwrap();
        let reply = get(
            addr,
            "GET /models/m.gguf HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 206"), "{text}");
        assert!(text.contains("Content-Range: bytes 0-3/12\r\n"), "{text}");
        assert!(reply.ends_with(b"\r\n\r\nGGUF"), "{text}");

        let reply = get(addr, "GET /assets/app.js HTTP/1.1\r\n\r\n");
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("Content-Type: text/javascript"), "{text}");
        assert!(text.ends_with("export {}"), "{text}");

        let reply = get(addr, "GET /models/index.json HTTP/1.1\r\n\r\n");
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("Content-Type: application/json"), "{text}");
        assert!(text.ends_with(r#"{"models":[]}"#), "{text}");

        let reply = get(addr, "GET /nope HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with(b"HTTP/1.1 404"));
        fs::remove_dir_all(roots.site.parent().unwrap()).unwrap();
    }
}
