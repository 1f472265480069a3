//! Handing memory the process has freed back to the system. How depends on the allocator,
//! which the binary chooses: it registers the way ([`register`]), and the library asks at
//! the moments when much was just freed and more is about to be taken.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Sets how freed memory is handed back (once; later calls change nothing).
pub fn register(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Hands freed memory back, on a thread of its own: the caller goes on.
pub fn release_freed_in_background() {
    if let Some(&release) = RELEASE.get() {
        std::thread::spawn(release);
    }
}
