//! Reading a file that a config line, an `$INCLUDE` or an API client names: a regular file
//! only, and only up to a size. A device (`/dev/zero`), a FIFO or a file that keeps growing
//! is refused with an error, where reading it whole would block the reader for ever or take
//! all the memory there is.

use std::{
    fs::{File, FileType, Metadata},
    io::{self, Read as _},
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
};

/// The bytes of the regular file at `path`, if it holds no more than `limit`.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // Looked at before it is opened: opening some devices does something (a watchdog
    // starts, a terminal becomes the daemon's).
    regular(&std::fs::metadata(path)?)?;
    // Non-blocking: should a FIFO take the file's place meanwhile, opening it would wait for
    // a writer. It changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    // What was opened, in case it is not what the path named a moment before.
    let metadata = file.metadata()?;
    regular(&metadata)?;
    within(file, metadata.len(), limit)
}

/// The bytes of whatever `path` names, a pipe included, up to `limit`: for the config, which
/// an operator may pipe in (`/dev/stdin`).
pub fn read_stream(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    within(file, size, limit)
}

/// `bytes` as UTF-8 text.
pub fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {}", e.utf8_error()),
        )
    })
}

fn regular(metadata: &Metadata) -> io::Result<()> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file (a {})", kind(metadata.file_type())),
    ))
}

/// Reads `file`, which says it holds `size` bytes, if that is no more than `limit`; bounded
/// again while reading, as a file may grow, and a stream or a /proc file says 0.
fn within(file: File, size: u64, limit: u64) -> io::Result<Vec<u8>> {
    let too_large = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("over the {limit}-byte limit"),
        )
    };
    if size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &Path, limit: u64) -> String {
        match read(path, limit) {
            Ok(bytes) => panic!("{}: read {} bytes", path.display(), bytes.len()),
            Err(e) => e.to_string(),
        }
    }

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo reads it and keeps nothing.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let file = dir.join("zone");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read(&file, 10).unwrap(), b"0123456789");
        assert_eq!(refused(&file, 9), "over the 9-byte limit", "one byte over");
        // A FIFO without a writer: refused at once, not waited on.
        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        assert_eq!(refused(&fifo, 1 << 20), "not a regular file (a FIFO)");
        assert_eq!(refused(dir, 1 << 20), "not a regular file (a directory)");
        // A regular file that says it is empty and is not (as /proc's are): bounded anyway.
        assert_eq!(
            refused(Path::new("/proc/self/status"), 16),
            "over the 16-byte limit"
        );
        // Endless: reading it whole would take all the memory there is.
        assert_eq!(
            refused(Path::new("/dev/zero"), 1 << 20),
            "not a regular file (a character device)"
        );
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        let not_text = text(read(&file, 10).unwrap()).unwrap_err().to_string();
        assert!(not_text.starts_with("not UTF-8 text"), "{not_text}");
    }

    /// The config may come through a pipe; it is bounded all the same.
    #[test]
    fn a_stream_is_read_within_the_limit() {
        let temp = tempfile::tempdir().unwrap();
        let fifo = temp.path().join("fifo");
        mkfifo(&fifo);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, b"[server]\n"))
        };
        assert_eq!(read_stream(&fifo, 1 << 20).unwrap(), b"[server]\n");
        writer.join().unwrap().unwrap();
        let endless = read_stream(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(endless.to_string(), "over the 1048576-byte limit");
    }
}
