//! The agent's request loop: one request at a time from the kernel's nbd socket, answered
//! by the [`Store`]; while the flusher holds reads back (it is quiescing the device), reads
//! are answered later, in the order they came.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use super::protocol::{reply, Command, Request, REQUEST_LEN};
use super::store::{Backing, Store};

/// errno values the kernel passes up for a failed request.
const EIO: u32 = 5;
const EINVAL: u32 = 22;

/// Why serving ended.
#[derive(Debug)]
pub enum End {
    /// The kernel disconnected the device.
    Disconnected,
    /// The socket broke or the stream went out of step.
    Broken(String),
}

/// Serves `socket` until the kernel disconnects. `after_request` sees the store after each
/// request (the flusher waits for the first one, when the device is live, and asks for a
/// second flush only while pages are held). While `hold_reads` is set, READs wait: each
/// is answered after the first request served once it is clear again.
pub fn serve<B: Backing, S: Read + Write>(
    store: &mut Store<B>,
    socket: &mut S,
    hold_reads: &AtomicBool,
    mut after_request: impl FnMut(&Store<B>),
    mut log_error: impl FnMut(String),
) -> End {
    let mut header = [0u8; REQUEST_LEN];
    let mut data = Vec::new();
    let mut waiting: Vec<Request> = Vec::new();
    loop {
        if let Err(e) = socket.read_exact(&mut header) {
            return End::Broken(format!("reading a request: {e}"));
        }
        let request = match Request::parse(&header) {
            Ok(r) => r,
            Err(e) => return End::Broken(e.to_string()),
        };
        let len = request.len as usize;
        let result: io::Result<()> = match request.command {
            Command::Read if hold_reads.load(Ordering::Acquire) => {
                waiting.push(request);
                Ok(())
            }
            Command::Read => answer_read(store, socket, &request, &mut data, &mut log_error),
            Command::Write => {
                data.resize(len, 0);
                if let Err(e) = socket.read_exact(&mut data) {
                    return End::Broken(format!("reading {len} bytes of a write: {e}"));
                }
                let errno = match store.write(request.offset, &data) {
                    Ok(()) => 0,
                    Err(e) => {
                        log_error(format!("write of {len} bytes at {}: {e}", request.offset));
                        EIO
                    }
                };
                socket.write_all(&reply(request.handle, errno))
            }
            Command::Flush => {
                let errno = match store.flush() {
                    Ok(()) => 0,
                    Err(e) => {
                        log_error(format!("flush: {e}"));
                        EIO
                    }
                };
                socket.write_all(&reply(request.handle, errno))
            }
            Command::Disconnect => return End::Disconnected,
            // Not advertised; answered so that a kernel that sends one anyway goes on.
            Command::Trim => socket.write_all(&reply(request.handle, 0)),
            Command::Other(_) => socket.write_all(&reply(request.handle, EINVAL)),
        };
        if let Err(e) = result {
            return End::Broken(format!("answering a request: {e}"));
        }
        if !waiting.is_empty() && !hold_reads.load(Ordering::Acquire) {
            for request in std::mem::take(&mut waiting) {
                if let Err(e) = answer_read(store, socket, &request, &mut data, &mut log_error) {
                    return End::Broken(format!("answering a request: {e}"));
                }
            }
        }
        after_request(store);
    }
}

/// Answers a READ with the device's bytes (an error reply carries no data).
fn answer_read<B: Backing, S: Write>(
    store: &mut Store<B>,
    socket: &mut S,
    request: &Request,
    data: &mut Vec<u8>,
    log_error: &mut impl FnMut(String),
) -> io::Result<()> {
    let len = request.len as usize;
    data.resize(len, 0);
    match store.read(request.offset, data) {
        Ok(()) => {
            let mut out = reply(request.handle, 0).to_vec();
            out.extend_from_slice(data);
            socket.write_all(&out)
        }
        Err(e) => {
            log_error(format!("read of {len} bytes at {}: {e}", request.offset));
            socket.write_all(&reply(request.handle, EIO))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::agent::protocol::{REPLY_LEN, REPLY_MAGIC};
    use crate::agent::store::PAGE;

    /// The kernel's side: requests to read, replies collected.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    use crate::agent::memory::MemoryFile as Memory;

    fn request(command: Command, handle: u8, offset: u64, len: u32) -> Vec<u8> {
        Request {
            command,
            flags: 0,
            handle: [handle; 8],
            offset,
            len,
        }
        .encode()
        .to_vec()
    }

    #[test]
    fn write_flush_read_and_disconnect_as_the_kernel_sends_them() {
        let mut input = request(Command::Write, 1, PAGE as u64, PAGE as u32);
        input.extend(vec![0x42; PAGE]);
        input.extend(request(Command::Flush, 2, 0, 0));
        input.extend(request(Command::Read, 3, 0, 2 * PAGE as u32));
        input.extend(request(Command::Read, 4, 0, 100)); // not whole pages
        input.extend(request(Command::Disconnect, 5, 0, 0));
        let mut socket = Duplex {
            input: Cursor::new(input),
            output: Vec::new(),
        };
        let mut store = Store::new(Memory(vec![0xFF; 2 * PAGE]), 2 * PAGE as u64, PAGE as u64);
        let mut errors = Vec::new();
        let end = serve(
            &mut store,
            &mut socket,
            &AtomicBool::new(false),
            |_| {},
            |m| errors.push(m),
        );
        assert!(matches!(end, End::Disconnected), "{end:?}");
        let out = socket.output;
        let reply_at = |at: usize, handle: u8, errno: u32| {
            assert_eq!(&out[at..at + 4], REPLY_MAGIC.to_be_bytes());
            assert_eq!(&out[at + 4..at + 8], errno.to_be_bytes());
            assert_eq!(&out[at + 8..at + 16], [handle; 8]);
        };
        reply_at(0, 1, 0);
        reply_at(REPLY_LEN, 2, 0);
        reply_at(2 * REPLY_LEN, 3, 0);
        let data = &out[3 * REPLY_LEN..3 * REPLY_LEN + 2 * PAGE];
        assert!(data[..PAGE].iter().all(|&b| b == 0xFF));
        assert!(data[PAGE..].iter().all(|&b| b == 0x42));
        reply_at(3 * REPLY_LEN + 2 * PAGE, 4, EIO);
        assert_eq!(
            out.len(),
            4 * REPLY_LEN + 2 * PAGE,
            "no data after an error reply"
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("not whole 4096-byte pages"),
            "{errors:?}"
        );
    }

    /// What the flusher does while quiescing: reads wait (the kernel's writes and flushes
    /// do not), and are answered, in order, once reads are let through again.
    #[test]
    fn held_back_reads_are_answered_after_the_hold_ends_in_their_order() {
        let mut input = request(Command::Read, 1, 0, PAGE as u32);
        input.extend(request(Command::Write, 2, PAGE as u64, PAGE as u32));
        input.extend(vec![0x42; PAGE]);
        input.extend(request(Command::Read, 3, PAGE as u64, PAGE as u32));
        input.extend(request(Command::Flush, 4, 0, 0));
        input.extend(request(Command::Flush, 5, 0, 0));
        input.extend(request(Command::Disconnect, 6, 0, 0));
        let mut socket = Duplex {
            input: Cursor::new(input),
            output: Vec::new(),
        };
        let mut store = Store::new(Memory(vec![0xFF; 2 * PAGE]), 2 * PAGE as u64, PAGE as u64);
        let hold = AtomicBool::new(true);
        let mut served = 0;
        let end = serve(
            &mut store,
            &mut socket,
            &hold,
            |_| {
                served += 1;
                // The hold ends after the first FLUSH (the fourth request).
                if served == 4 {
                    hold.store(false, Ordering::Release);
                }
            },
            |m| panic!("{m}"),
        );
        assert!(matches!(end, End::Disconnected), "{end:?}");
        let out = socket.output;
        let handle_at = |at: usize| out[at + 8];
        // The write and the first flush first; then, after the second flush, the reads.
        assert_eq!(handle_at(0), 2);
        assert_eq!(handle_at(REPLY_LEN), 4);
        assert_eq!(handle_at(2 * REPLY_LEN), 5);
        assert_eq!(handle_at(3 * REPLY_LEN), 1);
        assert!(out[4 * REPLY_LEN..4 * REPLY_LEN + PAGE]
            .iter()
            .all(|&b| b == 0xFF));
        let second = 4 * REPLY_LEN + PAGE;
        assert_eq!(handle_at(second), 3);
        assert!(out[second + REPLY_LEN..].iter().all(|&b| b == 0x42));
        assert_eq!(out.len(), 5 * REPLY_LEN + 2 * PAGE);
    }

    #[test]
    fn a_stream_out_of_step_ends_the_service() {
        let mut socket = Duplex {
            input: Cursor::new(vec![0u8; REQUEST_LEN]),
            output: Vec::new(),
        };
        let mut store = Store::new(Memory(vec![0xFF; PAGE]), PAGE as u64, PAGE as u64);
        let end = serve(
            &mut store,
            &mut socket,
            &AtomicBool::new(false),
            |_| {},
            |_| {},
        );
        assert!(
            matches!(&end, End::Broken(m) if m.contains("request magic")),
            "{end:?}"
        );
    }
}
