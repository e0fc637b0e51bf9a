//! A guard in front of actix's HTTP/1 parser. actix answers a request line it cannot parse (a
//! request target over 65,534 bytes, the `http` crate's limit) or a head over 128 KiB with a bare
//! 400 or 431: no body, no content type, no log line, before any middleware of ours runs. This
//! stream reads each request's head before actix does; one that is too long is replaced by a short
//! request for `REFUSED_PATH`, which answers the SCIM Error (`http::front_door::refused`) and closes
//! the connection. To know where each request's head begins it follows the message framing of
//! RFC 9112 §6 (Content-Length or chunked bodies); a message it cannot follow is passed on as is.
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where refused requests are sent; `status` and `length` say why.
pub const REFUSED_PATH: &str = "/.scim-bridge/refused";

/// The largest request head passed on (actix refuses 128 KiB and more).
const MAX_HEAD: usize = 64 * 1024;
/// The longest chunk-size line of a chunked body (RFC 9112 §7.1) followed.
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Before or inside a request head (held back until complete).
    Head,
    /// Discarding a request line that is too long; `length` bytes so far.
    LongLine { length: usize },
    /// Inside a body of known length: this many bytes remain.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// A message this guard does not follow: everything passes unchanged from here on.
    Passthrough,
    /// A refusal was handed to actix: what the client sends after it is dropped.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line (its length so far).
    Size(usize),
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk; `blank` while the current line is still empty.
    Trailers {
        blank: bool,
    },
}

/// A connection whose request heads are checked before actix parses them.
pub struct GuardedStream<S> {
    inner: S,
    max_line: usize,
    framing: Framing,
    /// The head being read, held back from actix until it is complete.
    head: Vec<u8>,
    /// The method of a request being refused (for the synthetic request).
    method: &'static str,
    /// A partial chunk-size line.
    chunk_line: Vec<u8>,
    /// Bytes ready for actix, and how many of them it has taken.
    ready: Vec<u8>,
    taken: usize,
}

impl<S> GuardedStream<S> {
    /// `max_target` is the longest request target passed on to actix (`server.max_uri_length`,
    /// which `front_door` enforces with the same 414 for targets actix can still parse).
    pub fn new(inner: S, max_target: usize) -> Self {
        Self {
            inner,
            // The method, two spaces and the version around the target.
            max_line: max_target + 32,
            framing: Framing::Head,
            head: Vec::new(),
            method: "GET",
            chunk_line: Vec::new(),
            ready: Vec::new(),
            taken: 0,
        }
    }

    /// Runs `data`, just read from the client, through the framing, queueing what actix may see.
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            data = match self.framing {
                Framing::Head => self.feed_head(data),
                Framing::LongLine { length } => self.feed_long_line(data, length),
                Framing::Body(remaining) => {
                    let n = data.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    self.ready.extend_from_slice(&data[..n]);
                    let left = remaining - n as u64;
                    self.framing = if left == 0 { Framing::Head } else { Framing::Body(left) };
                    &data[n..]
                }
                Framing::Chunked(chunk) => self.feed_chunked(data, chunk),
                Framing::Passthrough => {
                    self.ready.extend_from_slice(data);
                    &[]
                }
                Framing::Refused => &[],
            };
        }
    }

    fn feed_head<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        // Empty lines before a request line are allowed (RFC 9112 §2.2) and passed on.
        if self.head.is_empty() {
            let blank = data.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
            self.ready.extend_from_slice(&data[..blank]);
            if blank == data.len() {
                return &[];
            }
            return self.feed_head_bytes(&data[blank..]);
        }
        self.feed_head_bytes(data)
    }

    fn feed_head_bytes<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let scanned = self.head.len().saturating_sub(3);
        let line_known = self.head.contains(&b'\n');
        self.head.extend_from_slice(data);
        if !line_known {
            let line_end = self.head.iter().position(|&b| b == b'\n');
            let length = line_end.unwrap_or(self.head.len());
            if length > self.max_line {
                self.method = known_method(&self.head);
                self.head.clear();
                match line_end {
                    Some(_) => self.refuse(414, length.saturating_sub(self.method.len() + " HTTP/1.1\r".len() + 1)),
                    None => self.framing = Framing::LongLine { length },
                }
                return &[];
            }
        }
        let end = head_end(&self.head, scanned);
        if end.unwrap_or(self.head.len()) > MAX_HEAD {
            self.method = known_method(&self.head);
            let length = self.head.len();
            self.head.clear();
            self.refuse(431, length);
            return &[];
        }
        let Some(end) = end else { return &[] };
        let after = self.head.len() - end;
        self.framing = framing_of(&self.head[..end]);
        self.ready.extend_from_slice(&self.head[..end]);
        self.head.clear();
        &data[data.len() - after..]
    }

    fn feed_long_line<'d>(&mut self, data: &'d [u8], length: usize) -> &'d [u8] {
        match data.iter().position(|&b| b == b'\n') {
            Some(end) => {
                // Reported as the target's length: less the method, the version and CRLF.
                let line = length + end;
                self.refuse(414, line.saturating_sub(self.method.len() + " HTTP/1.1\r".len() + 1));
                &[]
            }
            None => {
                self.framing = Framing::LongLine {
                    length: length + data.len(),
                };
                &[]
            }
        }
    }

    fn feed_chunked<'d>(&mut self, data: &'d [u8], chunk: Chunk) -> &'d [u8] {
        let (used, next) = match chunk {
            Chunk::Size(seen) => match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.chunk_line.extend_from_slice(&data[..end]);
                    let size = chunk_size(&self.chunk_line);
                    self.chunk_line.clear();
                    match size {
                        Some(0) => (end + 1, Framing::Chunked(Chunk::Trailers { blank: true })),
                        Some(n) => (end + 1, Framing::Chunked(Chunk::Data(n))),
                        None => (end + 1, Framing::Passthrough),
                    }
                }
                None if seen + data.len() > MAX_CHUNK_LINE => (data.len(), Framing::Passthrough),
                None => {
                    self.chunk_line.extend_from_slice(data);
                    (data.len(), Framing::Chunked(Chunk::Size(seen + data.len())))
                }
            },
            Chunk::Data(remaining) => {
                let n = data.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let left = remaining - n as u64;
                let next = if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) };
                (n, Framing::Chunked(next))
            }
            Chunk::DataEnd => match data.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, Framing::Chunked(Chunk::Size(0))),
                None => (data.len(), Framing::Chunked(Chunk::DataEnd)),
            },
            Chunk::Trailers { blank } => match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let empty = blank && data[..end].iter().all(|&b| b == b'\r');
                    let next = if empty {
                        Framing::Head
                    } else {
                        Framing::Chunked(Chunk::Trailers { blank: true })
                    };
                    (end + 1, next)
                }
                None => {
                    let still_blank = blank && data.iter().all(|&b| b == b'\r');
                    (data.len(), Framing::Chunked(Chunk::Trailers { blank: still_blank }))
                }
            },
        };
        self.ready.extend_from_slice(&data[..used]);
        self.framing = next;
        &data[used..]
    }

    /// Hands actix a short request for `REFUSED_PATH` in place of the one refused, and drops what
    /// the client sends after it (its body would be read as further requests).
    fn refuse(&mut self, status: u16, length: usize) {
        let request = format!(
            "{} {REFUSED_PATH}?status={status}&length={length} HTTP/1.1\r\nhost: localhost\r\n\
             connection: close\r\ncontent-length: 0\r\n\r\n",
            self.method
        );
        self.ready.extend_from_slice(request.as_bytes());
        self.framing = Framing::Refused;
    }

    /// Copies queued bytes into `buf`; whether any were.
    fn deliver(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        if self.taken >= self.ready.len() {
            return false;
        }
        let n = buf.remaining().min(self.ready.len() - self.taken);
        buf.put_slice(&self.ready[self.taken..self.taken + n]);
        self.taken += n;
        if self.taken == self.ready.len() {
            self.ready.clear();
            self.taken = 0;
        }
        n > 0
    }
}

/// The end (exclusive) of a head whose last bytes are `\r\n\r\n` or `\n\n`, searching from `from`.
fn head_end(head: &[u8], from: usize) -> Option<usize> {
    (from..head.len()).find_map(|i| {
        if head[i] != b'\n' {
            return None;
        }
        match head.get(..i) {
            Some(before) if before.ends_with(b"\n") => Some(i + 1),
            Some(before) if before.ends_with(b"\n\r") => Some(i + 1),
            _ => None,
        }
    })
}

/// What follows a complete head: RFC 9112 §6.3 for requests. Anything unusual is passed through.
fn framing_of(head: &[u8]) -> Framing {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return Framing::Passthrough;
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            if chunked || !last.eq_ignore_ascii_case("chunked") {
                return Framing::Passthrough;
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("content-length") {
            match (value.parse::<u64>(), length) {
                (Ok(n), None) => length = Some(n),
                (Ok(n), Some(m)) if n == m => {}
                _ => return Framing::Passthrough,
            }
        } else if header.name.eq_ignore_ascii_case("upgrade") {
            return Framing::Passthrough;
        }
    }
    match (chunked, length) {
        (true, None) => Framing::Chunked(Chunk::Size(0)),
        (true, Some(_)) => Framing::Passthrough,
        (false, Some(0) | None) => Framing::Head,
        (false, Some(n)) => Framing::Body(n),
    }
}

/// The hexadecimal size at the start of a chunk-size line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let size = text.split(';').next()?.trim();
    u64::from_str_radix(size, 16).ok()
}

/// The request's method if it is one this server serves, else GET (it only words the refusal).
fn known_method(head: &[u8]) -> &'static str {
    const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    let token = head.split(|&b| b == b' ').next().unwrap_or_default();
    METHODS.into_iter().find(|m| m.as_bytes() == token).unwrap_or("GET")
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    /// Reads into actix's buffer directly; bytes inside a body pass untouched, and only what the
    /// framing must look at (heads, chunk lines, the end of a body) is taken out and run through it.
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.deliver(buf) {
                return Poll::Ready(Ok(()));
            }
            let start = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let read = buf.filled().len() - start;
            if read == 0 || this.passes_whole(read) {
                return Poll::Ready(Ok(())); // end of stream, or body bytes
            }
            let data = buf.filled()[start..].to_vec();
            buf.set_filled(start);
            // What was read may all be held back (a head in progress) or dropped: then read on.
            this.feed(&data);
        }
    }
}

impl<S> GuardedStream<S> {
    /// Whether `n` bytes just read pass unchanged (well inside a body of known length, or past
    /// what the guard follows), moving the framing past them.
    fn passes_whole(&mut self, n: usize) -> bool {
        match self.framing {
            Framing::Passthrough => true,
            Framing::Body(remaining) if remaining > n as u64 => {
                self.framing = Framing::Body(remaining - n as u64);
                true
            }
            _ => false,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
