//! Where clients reach this server: the scheme and host that `Location` and `meta.location` are
//! built from. `server.public_url` wins; otherwise the request's own `Host`. `Forwarded` and
//! `X-Forwarded-*` are believed only from a peer in `server.trusted_proxies`: from anyone else they
//! would let a client point the URLs we hand out at a host of its choosing.
use super::AppState;
use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use std::net::{IpAddr, Ipv6Addr};

/// The SCIM base URL: `server.public_url`, or the one this request came in on.
pub fn base_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let forwarded = believed_forwarded(req, state);
    let scheme = forwarded.proto.unwrap_or(if over_tls(req) { "https" } else { "http" });
    let host = forwarded
        .host
        .or_else(|| own_host(req))
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{scheme}://{host}{}", state.base_path)
}

/// Whether the request came over https (directly, or as a trusted proxy says), or the configured
/// `public_url` is https: where a cookie must be `Secure`.
pub fn is_https(req: &HttpRequest, state: &AppState) -> bool {
    let public_https = state
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let proto = believed_forwarded(req, state).proto;
    public_https || proto == Some("https") || (proto.is_none() && over_tls(req))
}

fn over_tls(req: &HttpRequest) -> bool {
    req.app_data::<super::OverTls>().is_some_and(|t| t.0)
}

/// The `Forwarded` / `X-Forwarded-*` values of a trusted proxy; none from anyone else.
fn believed_forwarded(req: &HttpRequest, state: &AppState) -> Forwarded {
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| is_trusted(peer.ip(), &state.trusted_proxies));
    if trusted {
        forwarded(req.headers())
    } else {
        Forwarded::default()
    }
}

/// The host the request names: its `Host` header (checked by `front_door`), or the URI authority.
fn own_host(req: &HttpRequest) -> Option<String> {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    host.or_else(|| req.uri().authority().map(|a| a.as_str()))
        .filter(|h| is_authority(h))
        .map(str::to_owned)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded {
    proto: Option<&'static str>,
    host: Option<String>,
}

/// What a trusted proxy says of the original request: `Forwarded` (RFC 7239) first, else
/// `X-Forwarded-Proto` / `X-Forwarded-Host`. Of several hops the first, the client's, counts.
/// Values that are not a plain scheme or authority are ignored.
fn forwarded(headers: &HeaderMap) -> Forwarded {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut out = Forwarded::default();
    if let Some(first) = text("forwarded").and_then(|v| v.split(',').next()) {
        for pair in first.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "proto" => out.proto = scheme(value),
                "host" => out.host = is_authority(value).then(|| value.to_owned()),
                _ => {}
            }
        }
    }
    let first = |name: &str| text(name).and_then(|v| v.split(',').next()).map(str::trim);
    if out.proto.is_none() {
        out.proto = first("x-forwarded-proto").and_then(scheme);
    }
    if out.host.is_none() {
        out.host = first("x-forwarded-host").filter(|h| is_authority(h)).map(str::to_owned);
    }
    out
}

fn scheme(value: &str) -> Option<&'static str> {
    match value.to_ascii_lowercase().as_str() {
        "http" => Some("http"),
        "https" => Some("https"),
        _ => None,
    }
}

/// `host [":" port]` as a `Host` header may carry it (RFC 9110 §7.2): a DNS name or IPv4 address
/// (letters, digits, `-`, `.`, `_`), or an IPv6 address in brackets, then an optional port.
pub fn is_authority(value: &str) -> bool {
    if value.is_empty() || value.len() > 255 {
        return false;
    }
    // `port` is None without a port, Some(None) for anything but `:digits` after the host.
    let (host_ok, port) = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, "")) => (v6.parse::<Ipv6Addr>().is_ok(), None),
            Some((v6, after)) => (v6.parse::<Ipv6Addr>().is_ok(), Some(after.strip_prefix(':'))),
            None => return false,
        },
        None => match value.split_once(':') {
            Some((host, port)) => (is_host_name(host), Some(Some(port))),
            None => (is_host_name(value), None),
        },
    };
    let port_ok = match port {
        None => true,
        Some(Some(p)) => {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        }
        Some(None) => false,
    };
    host_ok && port_ok
}

/// A DNS name or IPv4 address: letters, digits, `-`, `.`, `_`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Whether `ip` is in one of `nets`.
pub fn is_trusted(ip: IpAddr, nets: &[ipnet::IpNet]) -> bool {
    nets.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    #[test]
    fn authorities_are_host_and_optional_port() {
        for good in [
            "example.com",
            "bridge.example.com:8443",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:80",
            "a_b.local",
        ] {
            assert!(is_authority(good), "{good}");
        }
        for bad in [
            "",
            "evil.example/\"><x",
            "a b",
            "host:",
            "host:99999",
            "[::1",
            "[zz]:1",
            "x@y",
            "h:1:2",
            "[::1]x",
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_and_the_first_hop_counts() {
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4;proto=https;host=\"bridge.example.com\", for=5.6.7.8;host=inner",
            ),
            ("x-forwarded-host", "other.example"),
        ]);
        assert_eq!(
            forwarded(&h),
            Forwarded {
                proto: Some("https"),
                host: Some("bridge.example.com".into())
            }
        );
        let h = headers(&[
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "b.example:8443, x"),
        ]);
        assert_eq!(forwarded(&h).host.as_deref(), Some("b.example:8443"));
        let h = headers(&[("x-forwarded-host", "evil/\"><x"), ("x-forwarded-proto", "javascript")]);
        assert_eq!(forwarded(&h), Forwarded::default());
    }
}
