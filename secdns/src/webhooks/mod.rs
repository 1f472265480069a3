//! Notifications: every event is a structured log line, and is POSTed as JSON ([`event`]) to
//! each webhook that wants it. Each webhook has its own queue and delivery thread, so a slow
//! or dead receiver delays nobody else; a full queue drops the event (with a log line) rather
//! than block a transfer.

mod def;
pub mod event;
pub mod tls;

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
    thread,
    time::Duration,
};

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use def::WebhookDef;
use event::Event;

/// Events waiting for one webhook.
const QUEUE: usize = 1000;
/// Tries per event, the waits between them doubling from [`FIRST_RETRY`].
const ATTEMPTS: u32 = 6;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Delivery {
    def: WebhookDef,
    queue: Sender<Event>,
}

#[derive(Default)]
pub struct Notifier {
    hooks: Mutex<BTreeMap<String, Delivery>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Notifier {
    /// Makes `defs` the webhooks: new ones get a delivery thread, changed ones a new one, and
    /// removed ones stop once their queue is delivered.
    pub fn set_webhooks<'a>(&self, defs: impl IntoIterator<Item = &'a WebhookDef>) {
        let mut hooks = lock(&self.hooks);
        let mut kept = BTreeMap::new();
        for def in defs {
            match hooks.remove(&def.name) {
                Some(delivery) if delivery.def == *def => {
                    kept.insert(def.name.clone(), delivery);
                }
                _ => {
                    let (queue, events) = crossbeam_channel::bounded(QUEUE);
                    let for_thread = def.clone();
                    let spawned = thread::Builder::new()
                        .name(format!("webhook-{}", def.name))
                        .spawn(move || deliver(&for_thread, &events));
                    if let Err(e) = spawned {
                        tracing::error!(webhook = %def.name, "cannot start its delivery thread: {e}");
                        continue;
                    }
                    kept.insert(
                        def.name.clone(),
                        Delivery {
                            def: def.clone(),
                            queue,
                        },
                    );
                }
            }
        }
        *hooks = kept;
    }

    /// Logs `event` and queues it for every webhook that wants it. Never waits.
    pub fn emit(&self, event: Event) {
        let json = serde_json::to_string(&event).unwrap_or_default();
        match event.event {
            event::EventKind::ZoneUpdated => {
                tracing::info!(event = event.event.as_str(), zone = %event.zone, json, "{}", event.message)
            }
            _ => {
                tracing::warn!(event = event.event.as_str(), zone = %event.zone, json, "{}", event.message)
            }
        }
        for delivery in lock(&self.hooks).values() {
            if !delivery.def.wants(event.event) {
                continue;
            }
            match delivery.queue.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => tracing::error!(
                    webhook = %delivery.def.name,
                    "{QUEUE} events waiting; dropped a {} event for zone {}",
                    event.event.as_str(),
                    event.zone
                ),
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

fn deliver(def: &WebhookDef, events: &Receiver<Event>) {
    let mut agent = ureq::AgentBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .redirects(0);
    if def.url.starts_with("https://") {
        match tls::client_config(def.ca_file.as_deref()) {
            Ok(config) => agent = agent.tls_config(config),
            // Checked when the webhook was made; the file may have gone since.
            Err(e) => {
                tracing::error!(webhook = %def.name, "TLS set-up: {e}; using the public roots only")
            }
        }
    }
    let agent = agent.build();
    for event in events {
        let mut wait = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            let error = match agent.post(&def.url).send_json(&event) {
                Ok(_) => break,
                Err(ureq::Error::Status(code, _)) => format!("HTTP {code}"),
                Err(e) => e.to_string(),
            };
            if attempt == ATTEMPTS {
                tracing::error!(
                    webhook = %def.name,
                    url = %def.url,
                    "gave up on a {} event for zone {} after {ATTEMPTS} attempts: {error}",
                    event.event.as_str(),
                    event.zone
                );
                break;
            }
            tracing::warn!(webhook = %def.name, url = %def.url, attempt, "delivery failed ({error}); retrying in {wait:?}");
            thread::sleep(wait);
            wait *= 2;
        }
    }
}
