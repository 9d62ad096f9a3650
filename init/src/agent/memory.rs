//! An in-memory card for the agent's tests: a byte vector standing for the container or
//! for the journal's ring.

use std::io;

use super::journal::JournalFile;
use super::store::{Backing, PAGE};

pub struct MemoryFile(pub Vec<u8>);

impl Backing for MemoryFile {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        buf.copy_from_slice(&self.0[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        self.0[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl JournalFile for MemoryFile {
    fn pages(&self) -> u64 {
        (self.0.len() / PAGE) as u64
    }
}
