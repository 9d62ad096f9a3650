//! The agent's request loop: one request at a time from the kernel's nbd socket, answered
//! by the [`Store`].

use std::io::{self, Read, Write};

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

/// Serves `socket` until the kernel disconnects. `on_request` is called before each
/// request (the flusher waits for the first one: only then is the device live).
pub fn serve<B: Backing, S: Read + Write>(
    store: &mut Store<B>,
    socket: &mut S,
    mut on_request: impl FnMut(),
    mut log_error: impl FnMut(String),
) -> End {
    let mut header = [0u8; REQUEST_LEN];
    let mut data = Vec::new();
    loop {
        if let Err(e) = socket.read_exact(&mut header) {
            return End::Broken(format!("reading a request: {e}"));
        }
        on_request();
        let request = match Request::parse(&header) {
            Ok(r) => r,
            Err(e) => return End::Broken(e.to_string()),
        };
        let len = request.len as usize;
        let result: io::Result<()> = match request.command {
            Command::Read => {
                data.resize(len, 0);
                match store.read(request.offset, &mut data) {
                    Ok(()) => {
                        let mut out = reply(request.handle, 0).to_vec();
                        out.extend_from_slice(&data);
                        socket.write_all(&out)
                    }
                    Err(e) => {
                        log_error(format!("read of {len} bytes at {}: {e}", request.offset));
                        socket.write_all(&reply(request.handle, EIO))
                    }
                }
            }
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
    }
}
