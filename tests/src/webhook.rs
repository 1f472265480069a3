//! A webhook receiver for tests: an HTTP server on loopback that keeps every JSON body POSTed
//! to it, and can answer the first few with 500 to make the sender retry.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::bail;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use serde_json::Value;

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

pub struct Receiver {
    pub url: String,
    events: Arc<Mutex<Vec<Value>>>,
    /// POSTs answered 500 so far, and how many to answer so.
    failures: Arc<Mutex<(usize, usize)>>,
}

impl Receiver {
    /// Listens on 127.0.0.1; the first `fail_first` POSTs get a 500.
    pub fn start(fail_first: usize) -> anyhow::Result<Self> {
        Self::listen(fail_first, None)
    }

    /// As [`Receiver::start`], over TLS with the certificate chain and key (PEM) given.
    pub fn start_tls(cert_chain: &Path, key: &Path) -> anyhow::Result<Self> {
        let certs = CertificateDer::pem_file_iter(cert_chain)?.collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Self::listen(0, Some(Arc::new(config)))
    }

    fn listen(fail_first: usize, tls: Option<Arc<rustls::ServerConfig>>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/hook", listener.local_addr()?);
        let events = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new((0, fail_first)));
        let (kept, failing) = (events.clone(), failures.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let stream: Box<dyn ReadWrite> = match &tls {
                    Some(config) => match rustls::ServerConnection::new(config.clone()) {
                        Ok(connection) => Box::new(rustls::StreamOwned::new(connection, tcp)),
                        Err(_) => continue,
                    },
                    None => Box::new(tcp),
                };
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length.min(1 << 20)];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let fail = {
                    let mut f = failing.lock().unwrap_or_else(|e| e.into_inner());
                    let fail = f.0 < f.1;
                    if fail {
                        f.0 += 1;
                    }
                    fail
                };
                let status = if fail {
                    "500 Internal Server Error"
                } else {
                    if let Ok(event) = serde_json::from_slice(&body) {
                        kept.lock().unwrap_or_else(|e| e.into_inner()).push(event);
                    }
                    "200 OK"
                };
                let _ = reader.get_mut().write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let _ = reader.get_mut().flush();
            }
        });
        Ok(Self {
            url,
            events,
            failures,
        })
    }

    pub fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// POSTs answered 500 so far.
    pub fn failed(&self) -> usize {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Waits for an event matching `wanted`; fails with every event received.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.events().into_iter().find(|e| wanted(e)) {
                return Ok(event);
            }
            if Instant::now() > deadline {
                bail!(
                    "no {what} event within {timeout:?}; received: {:#?}",
                    self.events()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
