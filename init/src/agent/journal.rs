//! The card agent's journal: a ring of pages in a file beside the container, so that the
//! blocks released together reach the card all or none. Each release is written to the
//! ring first (a batch record: the pages and their new contents, checksummed) and synced,
//! then written in place and synced, then closed by a done record (the next sequence
//! number). The agent reads the
//! ring when it starts: a batch without its done record is written in place again before
//! the kernel sees the container (idempotent: nothing is written after a batch before its
//! done record is on the card).
//!
//! Records start at page boundaries and move around the ring, so no page of the card is
//! rewritten more often than the others. Layout of a record's first page (little-endian):
//! magic (8) · kind (4: 1 batch, 2 done) · seq (8) · entries (4) · header pages (4) ·
//! data pages (4) · crc32 of the header pages (this field zero) and data pages (4), then
//! from byte 64 the entries, continued on further header pages: a page index (u32), with
//! [`ERASED_FLAG`] when its new contents are all 0xFF (no data page follows for it).

use std::io;

use super::store::{Backing, PAGE};

pub const MAGIC: &[u8; 8] = b"FRJRNL01";
const KIND_BATCH: u32 = 1;
const KIND_DONE: u32 = 2;
const ENTRIES_AT: usize = 64;
const ENTRY_LEN: usize = 4;
pub const ERASED_FLAG: u32 = 1 << 31;
/// The ring's size when the agent makes the file.
pub use flashroot_runtime::journal::DEFAULT_BYTES;

/// The file the ring lives in: read, written and synced like the container, and of a
/// known size.
pub trait JournalFile: Backing {
    fn pages(&self) -> u64;
}

impl<T: JournalFile + ?Sized> Backing for &mut T {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_at(buf, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
}

impl<T: JournalFile + ?Sized> JournalFile for &mut T {
    fn pages(&self) -> u64 {
        (**self).pages()
    }
}

impl<T: JournalFile + ?Sized> Backing for Box<T> {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_at(buf, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
}

impl<T: JournalFile + ?Sized> JournalFile for Box<T> {
    fn pages(&self) -> u64 {
        (**self).pages()
    }
}

/// A batch found unfinished when the ring was read: write it in place, then
/// [`Journal::done`].
#[derive(Debug, PartialEq, Eq)]
pub struct Batch {
    pub seq: u64,
    pub pages: Vec<(u64, Vec<u8>)>,
}

pub struct Journal<F> {
    file: F,
    /// Where the next record goes, in pages.
    next: u64,
    seq: u64,
}

struct Header {
    kind: u32,
    seq: u64,
    entries: u32,
    header_pages: u32,
    data_pages: u32,
    crc: u32,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn parse_header(page: &[u8]) -> Option<Header> {
    if &page[..8] != MAGIC {
        return None;
    }
    let h = Header {
        kind: le32(page, 8),
        seq: u64::from_le_bytes(page[12..20].try_into().expect("8 bytes")),
        entries: le32(page, 20),
        header_pages: le32(page, 24),
        data_pages: le32(page, 28),
        crc: le32(page, 32),
    };
    let capacity = (h.header_pages as usize * PAGE).saturating_sub(ENTRIES_AT) / ENTRY_LEN;
    let sane = matches!(h.kind, KIND_BATCH | KIND_DONE)
        && h.header_pages >= 1
        && h.entries as usize <= capacity
        && h.data_pages <= h.entries;
    sane.then_some(h)
}

/// Header pages needed for `entries` entries.
fn header_pages_for(entries: usize) -> usize {
    (ENTRIES_AT + entries * ENTRY_LEN).div_ceil(PAGE).max(1)
}

/// The bytes of a record: header pages, then the data of the pages that are not erased.
pub fn encode(kind: u32, seq: u64, pages: &[(u64, &[u8])]) -> Vec<u8> {
    let header_pages = header_pages_for(pages.len());
    let data: Vec<&[u8]> = pages
        .iter()
        .filter(|(_, d)| !d.iter().all(|&b| b == 0xFF))
        .map(|(_, d)| *d)
        .collect();
    let mut out = vec![0u8; header_pages * PAGE];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&kind.to_le_bytes());
    out[12..20].copy_from_slice(&seq.to_le_bytes());
    out[20..24].copy_from_slice(&(pages.len() as u32).to_le_bytes());
    out[24..28].copy_from_slice(&(header_pages as u32).to_le_bytes());
    out[28..32].copy_from_slice(&(data.len() as u32).to_le_bytes());
    for (i, (page, d)) in pages.iter().enumerate() {
        let erased = if d.iter().all(|&b| b == 0xFF) {
            ERASED_FLAG
        } else {
            0
        };
        let at = ENTRIES_AT + i * ENTRY_LEN;
        out[at..at + ENTRY_LEN].copy_from_slice(&(*page as u32 | erased).to_le_bytes());
    }
    for d in data {
        out.extend_from_slice(d);
    }
    let crc = crc32fast::hash(&out);
    out[32..36].copy_from_slice(&crc.to_le_bytes());
    out
}

impl<F: JournalFile> Journal<F> {
    /// Reads the ring: returns the journal, positioned after its newest record, and the
    /// batch to finish if the newest record is a batch without its done record.
    pub fn open(mut file: F) -> io::Result<(Self, Option<Batch>)> {
        let pages = file.pages();
        // One read of the whole ring (a few MiB, dropped at once): page by page would cost
        // a thousand card reads at every boot.
        let mut ring = vec![0u8; pages as usize * PAGE];
        file.read_at(&mut ring, 0)?;
        let page = |p: u64| &ring[p as usize * PAGE..(p as usize + 1) * PAGE];
        // The valid record with the highest sequence number: (seq, kind, position, pages).
        let mut newest: Option<(u64, u32, u64, u64)> = None;
        let mut p = 0;
        while p < pages {
            let Some(h) = parse_header(page(p)) else {
                p += 1;
                continue;
            };
            let len = u64::from(h.header_pages) + u64::from(h.data_pages);
            let intact = p + len <= pages && {
                let mut bytes = ring[p as usize * PAGE..(p + len) as usize * PAGE].to_vec();
                bytes[32..36].fill(0);
                crc32fast::hash(&bytes) == h.crc
            };
            if !intact {
                p += 1;
                continue;
            }
            if newest.is_none_or(|(seq, ..)| h.seq > seq) {
                newest = Some((h.seq, h.kind, p, len));
            }
            p += len;
        }
        let Some((seq, kind, at, len)) = newest else {
            return Ok((
                Self {
                    file,
                    next: 0,
                    seq: 0,
                },
                None,
            ));
        };
        let unfinished = match kind {
            KIND_BATCH => Some(Self::read_batch(&ring[at as usize * PAGE..], len as usize)),
            _ => None,
        };
        Ok((
            Self {
                file,
                next: at + len,
                seq,
            },
            unfinished,
        ))
    }

    fn read_batch(bytes: &[u8], len: usize) -> Batch {
        let bytes = &bytes[..len * PAGE];
        let h = parse_header(bytes).expect("checked when found");
        let mut data = bytes[h.header_pages as usize * PAGE..].chunks(PAGE);
        let pages = (0..h.entries as usize)
            .map(|i| {
                let e = le32(bytes, ENTRIES_AT + i * ENTRY_LEN);
                let contents = if e & ERASED_FLAG != 0 {
                    vec![0xFF; PAGE]
                } else {
                    data.next().expect("counted").to_vec()
                };
                (u64::from(e & !ERASED_FLAG), contents)
            })
            .collect();
        Batch { seq: h.seq, pages }
    }

    /// Whether a batch of `pages` pages (`data` of them not erased) fits the ring.
    pub fn fits(&self, pages: usize, data: usize) -> bool {
        (header_pages_for(pages) + data) as u64 <= self.file.pages()
    }

    fn append(&mut self, record: &[u8]) -> io::Result<()> {
        let len = (record.len() / PAGE) as u64;
        if len > self.file.pages() {
            return Err(io::Error::other(format!(
                "a record of {len} pages does not fit the {}-page journal",
                self.file.pages()
            )));
        }
        if self.next + len > self.file.pages() {
            self.next = 0;
        }
        self.file.write_at(record, self.next * PAGE as u64)?;
        self.file.sync()?;
        self.next += len;
        Ok(())
    }

    /// Writes and syncs a batch record for `pages`; returns its sequence number.
    pub fn batch(&mut self, pages: &[(u64, &[u8])]) -> io::Result<u64> {
        let seq = self.seq + 1;
        self.append(&encode(KIND_BATCH, seq, pages))?;
        self.seq = seq;
        Ok(seq)
    }

    /// Writes and syncs the done record closing every batch so far (it takes the next
    /// sequence number, so the newest record always says whether a batch is unfinished).
    pub fn done(&mut self) -> io::Result<()> {
        let seq = self.seq + 1;
        self.append(&encode(KIND_DONE, seq, &[]))?;
        self.seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::agent::memory::MemoryFile as Ring;

    fn page(b: u8) -> Vec<u8> {
        vec![b; PAGE]
    }

    #[test]
    fn an_empty_ring_has_nothing_to_finish() {
        let mut ring = Ring(vec![0; 8 * PAGE]);
        let (j, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(unfinished, None);
        assert_eq!((j.next, j.seq), (0, 0));
    }

    #[test]
    fn a_batch_without_its_done_record_is_found_and_a_finished_one_is_not() {
        let mut ring = Ring(vec![0; 16 * PAGE]);
        let (mut j, _) = Journal::open(&mut ring).unwrap();
        let (data, erased) = (page(0x42), page(0xFF));
        j.batch(&[(7, &data), (9, &erased)]).unwrap();
        j.done().unwrap();
        let s2 = j.batch(&[(3, &erased), (4, &data)]).unwrap();
        let _ = j;
        let (j, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(
            unfinished,
            Some(Batch {
                seq: s2,
                pages: vec![(3, page(0xFF)), (4, page(0x42))]
            })
        );
        let next = j.next;
        let mut j = j;
        j.done().unwrap();
        let _ = j;
        let (j, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(unfinished, None);
        assert_eq!(j.next, next + 1);
        assert_eq!(j.seq, s2 + 1);
    }

    #[test]
    fn a_torn_batch_is_ignored() {
        let mut ring = Ring(vec![0; 16 * PAGE]);
        let (mut j, _) = Journal::open(&mut ring).unwrap();
        let data = page(0x42);
        j.batch(&[(1, &data)]).unwrap();
        j.done().unwrap();
        let done_seq = j.seq;
        let at = j.next as usize * PAGE;
        j.batch(&[(2, &data)]).unwrap();
        let _ = j;
        ring.0[at + PAGE + 10] ^= 1; // the data page of the second batch
        let (j, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(
            unfinished, None,
            "torn before anything was written in place"
        );
        assert_eq!(j.seq, done_seq);
    }

    #[test]
    fn records_wrap_around_the_ring() {
        let mut ring = Ring(vec![0; 6 * PAGE]);
        let (mut j, _) = Journal::open(&mut ring).unwrap();
        let data = page(0x42);
        for _ in 0..5 {
            j.batch(&[(1, &data), (2, &data)]).unwrap(); // 3 pages
            j.done().unwrap(); // 1 page
        }
        let s = j.batch(&[(5, &data)]).unwrap();
        let _ = j;
        let (_, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(unfinished.map(|b| b.seq), Some(s));
        let too_big: Vec<(u64, &[u8])> = (0..6).map(|i| (i, data.as_slice())).collect();
        let (mut j, _) = Journal::open(&mut ring).unwrap();
        assert!(!j.fits(6, 6));
        assert!(j.batch(&too_big).is_err());
    }

    #[test]
    fn many_entries_take_several_header_pages() {
        let erased = page(0xFF);
        let pages: Vec<(u64, &[u8])> = (0..1500).map(|i| (i, erased.as_slice())).collect();
        let record = encode(KIND_BATCH, 1, &pages);
        assert_eq!(record.len(), 2 * PAGE, "1500 entries, no data pages");
        let mut ring = Ring(vec![0; 8 * PAGE]);
        ring.0[..record.len()].copy_from_slice(&record);
        let (_, unfinished) = Journal::open(&mut ring).unwrap();
        assert_eq!(unfinished.unwrap().pages.len(), 1500);
    }
}
