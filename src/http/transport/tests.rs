use super::*;

/// Feeds `input` in pieces of `step` bytes and returns what actix would read.
fn through(input: &[u8], step: usize, max_target: usize) -> Vec<u8> {
    let mut guard = GuardedStream::new((), max_target);
    for piece in input.chunks(step) {
        guard.feed(piece);
    }
    guard.ready
}

fn two_requests() -> Vec<u8> {
    let mut traffic =
        b"\r\nPOST /scim/v2/Users HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n{\"x\":\"GET\"}".to_vec();
    traffic.extend_from_slice(
        b"PATCH /scim/v2/Users/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
    );
    traffic.extend_from_slice(b"GET /scim/v2/Users?filter=x HTTP/1.1\nHost: a\n\n");
    traffic
}

#[test]
fn ordinary_traffic_passes_unchanged_however_it_is_split() {
    let traffic = two_requests();
    for step in [1, 2, 3, 7, 64, traffic.len()] {
        assert_eq!(through(&traffic, step, 8192), traffic, "step {step}");
    }
}

#[test]
fn a_request_line_over_the_limit_becomes_a_refusal_and_the_rest_is_dropped() {
    let target = format!("/scim/v2/Users/{}", "a".repeat(100_000));
    let mut traffic = format!("PUT {target} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello").into_bytes();
    traffic.extend_from_slice(b"GET /scim/v2/Users HTTP/1.1\r\nHost: a\r\n\r\n");
    for step in [1000, 8192, traffic.len()] {
        let out = String::from_utf8(through(&traffic, step, 8192)).unwrap();
        assert!(
            out.starts_with("PUT /.scim-bridge/refused?status=414&length="),
            "{}",
            &out[..80.min(out.len())]
        );
        assert!(out.ends_with("connection: close\r\ncontent-length: 0\r\n\r\n"), "{out}");
        assert!(
            !out.contains("/scim/v2/Users"),
            "step {step}: the refused request leaked"
        );
    }
}

#[test]
fn a_refusal_after_a_keep_alive_request_follows_the_first_one() {
    let mut traffic = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    let first = traffic.clone();
    traffic.extend_from_slice(format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "b".repeat(9000)).as_bytes());
    let out = through(&traffic, 512, 8192);
    assert!(out.starts_with(&first));
    assert!(String::from_utf8_lossy(&out[first.len()..]).starts_with("GET /.scim-bridge/refused?status=414"));
}

#[test]
fn the_refusal_reports_the_target_length() {
    let line = format!("GET /{} HTTP/1.1\r\n\r\n", "c".repeat(70_000));
    let out = String::from_utf8(through(line.as_bytes(), 4096, 8192)).unwrap();
    let length: usize = out
        .split("length=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, 70_001, "the target's length");
}

#[test]
fn a_head_over_the_limit_is_431() {
    let traffic = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "d".repeat(MAX_HEAD));
    let out = String::from_utf8(through(traffic.as_bytes(), 8192, 8192)).unwrap();
    assert!(
        out.starts_with("GET /.scim-bridge/refused?status=431"),
        "{}",
        &out[..80.min(out.len())]
    );
}

#[test]
fn framing_it_cannot_follow_is_passed_through() {
    let traffic = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec();
    assert_eq!(through(&traffic, 5, 8192), traffic);
    let traffic = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nzzzz".to_vec();
    assert_eq!(through(&traffic, 5, 8192), traffic);
}

/// Reads `input` through a `GuardedStream` over a real async pipe, in reads of `read_size` bytes.
async fn read_through(input: Vec<u8>, pipe: usize, read_size: usize) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client, server) = tokio::io::duplex(pipe);
    let writer = tokio::spawn(async move {
        client.write_all(&input).await.unwrap();
        client.shutdown().await.unwrap();
    });
    let mut guarded = GuardedStream::new(server, 8192);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; read_size];
    loop {
        let n = guarded.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    writer.await.unwrap();
    out
}

#[tokio::test]
async fn reads_through_the_stream_give_the_same_bytes_bodies_included() {
    let mut traffic = two_requests();
    let body = vec![b'z'; 100_000];
    traffic
        .extend_from_slice(format!("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    traffic.extend_from_slice(&body);
    traffic.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    for (pipe, read_size) in [(7, 5), (4096, 1000), (65536, 65536)] {
        assert_eq!(
            read_through(traffic.clone(), pipe, read_size).await,
            traffic,
            "pipe {pipe}, reads {read_size}"
        );
    }
}

#[tokio::test]
async fn a_long_target_read_through_the_stream_is_refused() {
    let traffic = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "e".repeat(70_000)
    )
    .into_bytes();
    let out = String::from_utf8(read_through(traffic, 4096, 4096).await).unwrap();
    assert!(
        out.starts_with("GET /.scim-bridge/refused?status=414&length=70001 "),
        "{}",
        &out[..60.min(out.len())]
    );
    assert_eq!(
        out.matches("HTTP/1.1").count(),
        1,
        "nothing after the refusal is passed on"
    );
}
