//! Reading a file that a config line, an `$INCLUDE` or an API client names: a regular file
//! only, and only up to a size. A device (`/dev/zero`), a FIFO or a file that keeps growing
//! is refused with an error, where reading it whole would block the reader for ever or take
//! all the memory there is.

use std::{
    fs::FileType,
    io::{self, Read as _},
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
};

/// The bytes of the regular file at `path`, if it holds no more than `limit`.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // Non-blocking: opening a FIFO that no one writes to would otherwise wait for a writer.
    // It changes nothing for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // The type of what was opened, not of what the path named a moment before.
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file (a {})", kind(metadata.file_type())),
        ));
    }
    let too_large = |size: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{size} bytes is over the {limit}-byte limit"),
        )
    };
    if metadata.len() > limit {
        return Err(too_large(&metadata.len()));
    }
    // Bounded again while reading: the file may grow after its size was taken.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(&format_args!("more than {limit}")));
    }
    Ok(bytes)
}

/// As [`read`], for a file that must be UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {}", e.utf8_error()),
        )
    })
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

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        let dir = std::env::temp_dir().join(format!("secdns-named-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("zone");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read(&file, 10).unwrap(), b"0123456789");
        assert_eq!(
            refused(&file, 9),
            "10 bytes is over the 9-byte limit",
            "one byte over"
        );
        // A FIFO without a writer: refused at once, not waited on.
        let fifo = dir.join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo reads it and keeps nothing.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(refused(&fifo, 1 << 20), "not a regular file (a FIFO)");
        assert_eq!(refused(&dir, 1 << 20), "not a regular file (a directory)");
        // A regular file that says it is empty and is not (as /proc's are): bounded anyway.
        assert_eq!(
            refused(Path::new("/proc/self/status"), 16),
            "more than 16 bytes is over the 16-byte limit"
        );
        // Endless: reading it whole would take all the memory there is.
        assert_eq!(
            refused(Path::new("/dev/zero"), 1 << 20),
            "not a regular file (a character device)"
        );
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        let text = read_text(&file, 10).unwrap_err().to_string();
        assert!(text.starts_with("not UTF-8 text"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
