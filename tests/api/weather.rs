//! Bad vendor weather for the stateful fakes: a seeded share of calls answered the way real vendors
//! fail (503; 429 with `Retry-After: 1`; DocuSign's hourly limit code with a reset one second
//! ahead; a hang past the bridge's timeout after the call took effect), and a proxy that resets
//! connections. A fault before the vendor acts changes nothing; the hang changes state first, as a
//! vendor that commits before its answer is lost.
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::ResponseTemplate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Unavailable,
    TooMany,
    /// DocuSign's `HOURLY_APIINVOCATION_LIMIT_EXCEEDED` (other vendors: 429).
    LimitSpent,
    /// The call takes effect, then its answer comes after the bridge gave up.
    Hang,
}

pub struct Faults {
    rate: f64,
    hang: Duration,
    rng: Mutex<StdRng>,
    /// Faults dealt, by kind, in order.
    pub dealt: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn new(rate: f64, seed: u64, hang: Duration) -> Arc<Self> {
        Arc::new(Self {
            rate,
            hang,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            dealt: Mutex::new(Vec::new()),
        })
    }

    /// Whether this call fails, and how.
    pub fn roll(&self) -> Option<Fault> {
        let mut rng = self.rng.lock().unwrap();
        if !rng.gen_bool(self.rate) {
            return None;
        }
        let fault = match rng.gen_range(0..10) {
            0..=3 => Fault::Unavailable,
            4..=6 => Fault::TooMany,
            7..=8 => Fault::LimitSpent,
            _ => Fault::Hang,
        };
        self.dealt.lock().unwrap().push(fault);
        Some(fault)
    }

    /// The answer for a fault that comes before the vendor acts (`None` for a hang).
    pub fn refusal(fault: Fault, docusign: bool) -> Option<ResponseTemplate> {
        let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 1).to_string();
        match fault {
            Fault::Unavailable => Some(ResponseTemplate::new(503).set_body_string("Service Unavailable")),
            Fault::TooMany => Some(ResponseTemplate::new(429).insert_header("Retry-After", "1")),
            Fault::LimitSpent if docusign => Some(
                ResponseTemplate::new(400)
                    .insert_header("X-RateLimit-Reset", reset.as_str())
                    .insert_header("X-RateLimit-Remaining", "0")
                    .set_body_json(serde_json::json!({"errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
                        "message": "The maximum number of hourly API invocations has been exceeded."})),
            ),
            Fault::LimitSpent => Some(ResponseTemplate::new(429).insert_header("Retry-After", "1")),
            Fault::Hang => None,
        }
    }

    pub fn hang(&self) -> Duration {
        self.hang
    }
}

/// A TCP proxy in front of `upstream` that resets the connection instead of forwarding a
/// `rate` share of what clients send (the request is lost; the client sees a reset).
pub async fn reset_proxy(upstream: SocketAddr, rate: f64, seed: u64) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let rng = rng.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                pipe(client, server, rate, rng).await;
            });
        }
    });
    address
}

async fn pipe(client: tokio::net::TcpStream, server: tokio::net::TcpStream, rate: f64, rng: Arc<Mutex<StdRng>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if rng.lock().unwrap().gen_bool(rate) {
            // SO_LINGER 0, then close: the client gets a reset.
            let _ = client_read.as_ref().set_zero_linger();
            back.abort();
            return;
        }
        if server_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = back.await;
}
