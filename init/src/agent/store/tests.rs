use super::*;
use crate::agent::journal::{Journal, JournalFile};

/// The card as a power cut leaves it: every completed write is there (as QEMU keeps what
/// it wrote to the image). Each write and sync is recorded in order, with the card's
/// contents after each write, so a test can look at every state a cut could leave.
#[derive(Default)]
struct Card {
    bytes: Vec<u8>,
    events: Vec<String>,
    states: Vec<Vec<u8>>,
    fail_writes: bool,
}

impl Card {
    fn pages(pages: &[u8]) -> Self {
        Self {
            bytes: pages.iter().flat_map(|&b| [b; PAGE]).collect(),
            ..Self::default()
        }
    }
    fn page(&self, i: usize) -> &[u8] {
        &self.bytes[i * PAGE..(i + 1) * PAGE]
    }
}

impl Backing for &mut Card {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        buf.copy_from_slice(&self.bytes[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.fail_writes {
            return Err(io::Error::from_raw_os_error(5));
        }
        let o = offset as usize;
        self.bytes[o..o + buf.len()].copy_from_slice(buf);
        self.events.push(format!("write {}", o / PAGE));
        self.states.push(self.bytes.clone());
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.events.push("sync".into());
        Ok(())
    }
}

const DATA: u8 = 0x5A;
const OLD: u8 = 0x11;
const P: u64 = PAGE as u64;

fn page_of(b: u8) -> Vec<u8> {
    vec![b; PAGE]
}

fn page_at(state: &[u8], i: usize) -> &[u8] {
    &state[i * PAGE..(i + 1) * PAGE]
}

#[test]
fn program_only_clears_bits() {
    assert!(is_program(&[0xFF, 0xF0], &[0x12, 0x10]));
    assert!(
        is_program(&[0xE0, 0x02], &[0xC0, 0x02]),
        "JFFS2 marking a node obsolete"
    );
    assert!(!is_program(&[0x12], &[0xFF]), "an erase");
    assert!(!is_program(&[0x12], &[0x21]), "an overwrite");
}

/// Garbage collection as the page cache writes it back: the erase of the old block
/// (lower page) reaches the agent before the copy into the new block. In no state the
/// card passes through may the data be gone from both.
#[test]
fn an_erase_never_reaches_the_card_before_the_copy_it_follows() {
    let mut card = Card::pages(&[DATA, ERASED]);
    let mut store = Store::new(&mut card, 2 * P, P);
    store.write(0, &page_of(ERASED)).unwrap(); // the erase of block 0
    store.write(P, &page_of(DATA)).unwrap(); // the copy into block 1
    assert_eq!(store.stats().erases, 1);
    assert_eq!(store.stats().programmed, 1);
    let mut seen = page_of(0);
    store.read(0, &mut seen).unwrap();
    assert_eq!(seen, page_of(ERASED), "the kernel sees its own writes");
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 1, "not safe at the first flush");
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0, "released at the second");
    drop(store);
    assert_eq!(card.events, ["write 1", "sync", "write 0", "sync"]);
    for state in &card.states {
        assert!(
            page_at(state, 0) == page_of(DATA) || page_at(state, 1) == page_of(DATA),
            "a state without the data"
        );
    }
}

/// A block whose erase is pending keeps its old nodes on the card: JFFS2's new nodes in
/// it, even those over bytes that were already erased, wait with the erase (else the
/// card would hold new nodes behind old ones and an old summary describing neither).
#[test]
fn writes_into_a_block_whose_erase_is_pending_are_held_with_it() {
    // Block 0: pages 0..=2 old nodes, page 3 never written (erased).
    let mut card = Card::pages(&[OLD, OLD, OLD, ERASED]);
    let mut store = Store::new(&mut card, 4 * P, 4 * P);
    store.write(0, &page_of(ERASED)).unwrap();
    store.write(3 * P, &page_of(DATA)).unwrap(); // a program, but the block is pending
    assert_eq!(store.held_pages(), 2);
    assert_eq!(store.stats().programmed, 0);
    store.finish().unwrap();
    drop(store);
    assert_eq!(card.page(0), page_of(ERASED));
    assert_eq!(card.page(3), page_of(DATA));
}

/// The old block ends in an erase-block summary; JFFS2 would trust it over the new
/// nodes. It is erased, and synced, before anything new is written into the block, and a
/// new summary in the last page comes last.
#[test]
fn an_old_summary_is_erased_before_new_nodes_land_in_its_block() {
    let mut card = Card::pages(&[OLD, OLD, OLD, OLD]);
    let mut store = Store::new(&mut card, 4 * P, 4 * P);
    for i in 0..4 {
        store.write(i * P, &page_of(ERASED)).unwrap(); // block2mtd's erase
    }
    store.write(0, &page_of(DATA)).unwrap(); // new nodes
    store.write(3 * P, &page_of(0x22)).unwrap(); // a new summary
    store.finish().unwrap();
    drop(store);
    assert_eq!(
        card.events,
        ["write 3", "sync", "write 0", "write 1", "write 2", "write 3", "sync"]
    );
    for state in &card.states {
        let new_nodes = page_at(state, 0) == page_of(DATA);
        let old_summary = page_at(state, 3) == page_of(OLD);
        assert!(!(new_nodes && old_summary), "an old summary over new nodes");
    }
}

#[test]
fn unchanged_pages_cost_no_write_and_no_sync() {
    let mut card = Card::pages(&[DATA]);
    let mut store = Store::new(&mut card, P, P);
    store.write(0, &page_of(DATA)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().unchanged, 1);
    assert_eq!(store.stats().syncs, 0);
}

#[test]
fn requests_outside_the_device_or_not_whole_pages_are_refused() {
    let mut card = Card::pages(&[ERASED, ERASED]);
    let mut store = Store::new(&mut card, 2 * P, P);
    for (offset, len) in [(0, 100), (100, PAGE), (P, 2 * PAGE)] {
        let err = store.write(offset, &vec![0; len]).unwrap_err();
        assert!(matches!(err, StoreError::Range { .. }), "{err}");
    }
    let err = store.read(2 * P, &mut page_of(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "4096 bytes at 8192 are not whole 4096-byte pages inside the 8192-byte container"
    );
}

#[test]
fn a_failed_release_keeps_the_page_held_and_readable() {
    let mut card = Card::pages(&[DATA]);
    let mut store = Store::new(&mut card, P, P);
    store.write(0, &page_of(ERASED)).unwrap();
    store.backing.fail_writes = true;
    assert!(store.finish().is_err());
    assert_eq!(store.held_pages(), 1);
    let mut seen = page_of(0);
    store.read(0, &mut seen).unwrap();
    assert_eq!(seen, page_of(ERASED));
    store.backing.fail_writes = false;
    store.finish().unwrap();
    assert_eq!(store.held_pages(), 0);
}

#[test]
fn an_erased_last_page_goes_first_and_is_written_once() {
    let mut card = Card::pages(&[OLD, OLD, OLD, OLD]);
    let mut store = Store::new(&mut card, 4 * P, 4 * P);
    for i in 0..4 {
        store.write(i * P, &page_of(ERASED)).unwrap();
    }
    store.write(0, &page_of(DATA)).unwrap();
    store.finish().unwrap();
    drop(store);
    assert_eq!(
        card.events,
        ["write 3", "sync", "write 0", "write 1", "write 2", "sync"]
    );
}

/// JFFS2 marks a node obsolete by clearing bits of its header in place once its
/// replacement is written. Applied before the replacement is on the card, a cut would
/// leave neither: the mark waits like an erase.
#[test]
fn an_obsolete_mark_waits_for_the_copy_it_follows() {
    let mut card = Card::pages(&[0xE0, ERASED]);
    let mut store = Store::new(&mut card, 2 * P, P);
    store.write(0, &page_of(0xC0)).unwrap(); // the old node marked obsolete
    store.write(P, &page_of(0xE0)).unwrap(); // its copy (an append)
    assert_eq!(store.stats().programmed, 1);
    assert_eq!(store.held_pages(), 1);
    store.flush().unwrap();
    store.flush().unwrap();
    drop(store);
    assert_eq!(card.events, ["write 1", "sync", "write 0", "sync"]);
    assert!(is_append(&[0xFF, 0x12], &[0x34, 0x12]));
    assert!(!is_append(&[0xE0], &[0xC0]), "a mark is no append");
}

/// The ring of a journal, shared with the test so it can read it after a "cut".
#[derive(Clone, Default)]
struct SharedRing(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Backing for SharedRing {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let ring = self.0.lock().unwrap();
        let o = offset as usize;
        buf.copy_from_slice(&ring[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut ring = self.0.lock().unwrap();
        let o = offset as usize;
        ring[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl JournalFile for SharedRing {
    fn pages(&self) -> u64 {
        (self.0.lock().unwrap().len() / PAGE) as u64
    }
}

/// Two blocks released at the same flush, in an order the agent cannot know: block 1 was
/// erased and then got the copy of block 0's data, then block 0 was erased. Whatever state
/// a cut leaves the card in, the card plus the journal's unfinished batch hold the data.
#[test]
fn blocks_released_together_are_all_or_nothing_through_the_journal() {
    let mut card = Card::pages(&[DATA, OLD]);
    let ring = SharedRing(std::sync::Arc::new(std::sync::Mutex::new(vec![
        0;
        16 * PAGE
    ])));
    let (journal, unfinished) =
        Journal::open(Box::new(ring.clone()) as Box<dyn JournalFile + Send>).unwrap();
    assert!(unfinished.is_none());
    let mut store = Store::new(&mut card, 2 * P, P).with_journal(journal);
    store.write(0, &page_of(ERASED)).unwrap(); // block 0 erased (lower page: first)
    store.write(P, &page_of(DATA)).unwrap(); // block 1: erased, then the copy
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().batches, 1);
    drop(store);
    assert_eq!(card.page(1), page_of(DATA));
    // Every write in place comes after the batch record (pages 0 and 1 of the ring: its
    // header and block 1's data; block 0's erase needs no data page) and before the done
    // record (page 2): a cut in between finds the batch unfinished.
    let before_done = SharedRing::default();
    let mut bytes = ring.0.lock().unwrap().clone();
    assert_eq!(&bytes[2 * PAGE..2 * PAGE + 8], b"FRJRNL01");
    bytes[2 * PAGE..3 * PAGE].fill(0);
    *before_done.0.lock().unwrap() = bytes;
    for state in &card.states {
        let mut cut = state.clone();
        // What the agent does at its next start.
        let (_, unfinished) =
            Journal::open(Box::new(before_done.clone()) as Box<dyn JournalFile + Send>).unwrap();
        if let Some(batch) = unfinished {
            for (page, contents) in batch.pages {
                let o = page as usize * PAGE;
                cut[o..o + PAGE].copy_from_slice(&contents);
            }
        }
        assert!(
            page_at(&cut, 0) == page_of(DATA) || page_at(&cut, 1) == page_of(DATA),
            "a cut lost the data"
        );
    }
}

/// JFFS2 garbage-collects a block node by node: copy, mark the old node obsolete, next
/// node. A mark must not reach the card before its copy; new nodes appended beside a held
/// mark reach the card at once all the same.
#[test]
fn marks_wait_page_by_page_and_appends_beside_them_do_not() {
    // Page 0: an old node header at its start (0xE0), the rest erased.
    let mut old = page_of(ERASED);
    old[0] = 0xE0;
    let mut card = Card {
        bytes: [old.clone(), page_of(ERASED)].concat(),
        ..Card::default()
    };
    let mut store = Store::new(&mut card, 2 * P, 2 * P);
    let mut marked = old.clone();
    marked[0] = 0xC0; // obsolete
    store.write(0, &marked).unwrap();
    let mut marked_and_appended = marked.clone();
    marked_and_appended[100] = 0x42; // a new node after it
    store.write(0, &marked_and_appended).unwrap();
    assert_eq!(store.held_pages(), 1);
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 1, "the mark waits a flush");
    let on_card = {
        let mut b = page_of(0);
        store.backing.read_at(&mut b, 0).unwrap();
        b
    };
    assert_eq!(on_card[0], 0xE0, "the mark is not on the card yet");
    assert_eq!(on_card[100], 0x42, "the new node is");
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0);
    drop(store);
    assert_eq!(card.page(0), marked_and_appended);
}

/// While the kernel keeps writing, what a FLUSH brings back may hold changes newer than
/// the fsync that sent it (the page cache writes a page with whatever it holds by then),
/// so nothing held is released; the first FLUSH after a pause in writes releases it all.
#[test]
fn held_pages_wait_for_a_pause_in_the_kernels_writes() {
    let mut card = Card::pages(&[DATA, ERASED, OLD]);
    let mut store = Store::new(&mut card, 3 * P, P);
    store.write(0, &page_of(ERASED)).unwrap();
    for i in 0..5u8 {
        store.write(P, &page_of(0x80 | i)).unwrap(); // appends keep coming... (a page
        store.write(P, &page_of(ERASED)).unwrap(); // of block 1 is reused meanwhile)
        store.flush().unwrap();
        assert_eq!(store.held_pages(), 2, "flush {i}");
    }
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0);
    assert_eq!(store.stats().forced, 0);
}

/// A quiet FLUSH can come in the middle of an erase (the flusher holds back the read
/// block2mtd makes of the next page to erase): everything else held goes to the card; the
/// block half-way through its erase waits for the end of it, its old summary with it.
#[test]
fn a_quiet_flush_in_the_middle_of_an_erase_releases_all_but_that_block() {
    let mut card = Card::pages(&[OLD, OLD, OLD, OLD]);
    let mut store = Store::new(&mut card, 4 * P, 2 * P);
    store.write(2 * P, &page_of(ERASED)).unwrap(); // block 1: erased whole,
    store.write(3 * P, &page_of(ERASED)).unwrap();
    store.write(2 * P, &page_of(DATA)).unwrap(); // and written again
    store.write(0, &page_of(ERASED)).unwrap(); // block 0: its erase has begun
    store.flush().unwrap();
    store.flush().unwrap(); // quiet
    assert_eq!(store.stats().quiet, 1);
    assert_eq!(store.held_pages(), 1, "block 0's first page waits");
    store.write(P, &page_of(ERASED)).unwrap(); // block 0's erase ends
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0);
    drop(store);
    assert_eq!(card.page(0), page_of(ERASED));
    assert_eq!(card.page(1), page_of(ERASED));
    assert_eq!(card.page(2), page_of(DATA));
    assert_eq!(card.page(3), page_of(ERASED));
    for state in &card.states {
        assert!(
            page_at(state, 0) == page_of(OLD) || page_at(state, 1) == page_of(ERASED),
            "block 0 half-erased on the card with its old end"
        );
    }
}

/// Writes that never pause: after `max_hold` flushes the held pages go anyway, except a
/// block whose erase has not reached the agent whole.
#[test]
fn a_long_hold_is_cut_short_but_not_in_the_middle_of_an_erase() {
    let mut card = Card::pages(&[DATA, OLD, OLD, OLD]);
    let mut store = Store::new(&mut card, 4 * P, 2 * P).with_max_hold(3);
    store.write(0, &page_of(ERASED)).unwrap(); // block 0, erased whole (page 1 too)
    store.write(P, &page_of(ERASED)).unwrap();
    store.write(2 * P, &page_of(ERASED)).unwrap(); // block 1: page 3 not yet
    for _ in 0..4 {
        store.write(0, &page_of(ERASED)).unwrap(); // the kernel keeps writing
        store.flush().unwrap();
    }
    assert_eq!(store.stats().forced, 1);
    assert_eq!(store.held_pages(), 1, "block 1's erase is incomplete");
    drop(store);
    assert_eq!(card.page(0), page_of(ERASED));
    assert_eq!(card.page(2), page_of(OLD));
}

/// A small append rewrites only the card sectors whose bytes change: a page being filled
/// is written back at every flush, and all of it each time would wear it eight times over.
#[test]
fn an_append_writes_only_the_sectors_it_changes() {
    let mut card = Card::pages(&[ERASED]);
    let mut store = Store::new(&mut card, P, P);
    let mut page = page_of(ERASED);
    page[600..700].fill(0x42); // inside the second 512-byte sector
    store.write(0, &page).unwrap();
    assert_eq!(store.stats().sectors_written, 1);
    page[1000..1100].fill(0x43); // the same sector and the next
    store.write(0, &page).unwrap();
    assert_eq!(store.stats().sectors_written, 3);
    drop(store);
    assert_eq!(card.page(0), page);
}
