//! [`Name`]: the model's strings, interned.
//!
//! A large tree repeats the same namespaces, kinds, label keys and values across hundreds of
//! thousands of objects. Each distinct text is stored once, in a process-wide table, and a
//! `Name` is a pointer to it: 8 bytes to copy, a pointer comparison for equality and the
//! pointer for hashing. Interned text is never freed (a run reads one tree and ends).
//!
//! The table is split into shards by hash, each behind its own lock, so the loading threads
//! rarely wait for each other; it starts empty and grows with what is interned, so a small
//! tree pays for a small table. Texts and their entries are carved out of large blocks
//! allocated once and leaked, not allocated one by one.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::MaybeUninit;
use std::sync::{Mutex, OnceLock};

use hashbrown::HashTable;

/// An interned string: see the module documentation.
#[derive(Clone, Copy)]
pub struct Name(&'static Entry);

/// The one copy of a text.
type Entry = &'static str;

const SHARDS: usize = 64;
/// Bytes of text per block, and entries per block.
const TEXT_BLOCK: usize = 64 * 1024;
const ENTRY_BLOCK: usize = 2048;

#[derive(Default)]
struct Shard {
    table: HashTable<&'static Entry>,
    /// What is left of the current blocks.
    text: &'static mut [u8],
    entries: &'static mut [MaybeUninit<Entry>],
}

impl Shard {
    fn intern(&mut self, text: &str, hash: u64) -> &'static Entry {
        if let Some(&entry) = self.table.find(hash, |e| **e == text) {
            return entry;
        }
        let text = self.store(text);
        let entry = self.new_entry(text);
        self.table.insert_unique(hash, entry, |e| hash_of(e));
        entry
    }

    /// A copy of `text` that lives as long as the process.
    fn store(&mut self, text: &str) -> &'static str {
        if text.len() > TEXT_BLOCK / 4 {
            return Box::leak(text.into());
        }
        if self.text.len() < text.len() {
            self.text = Box::leak(vec![0; TEXT_BLOCK].into_boxed_slice());
        }
        let (copy, rest) = std::mem::take(&mut self.text).split_at_mut(text.len());
        self.text = rest;
        copy.copy_from_slice(text.as_bytes());
        std::str::from_utf8(copy).expect("a copy of a str is UTF-8")
    }

    fn new_entry(&mut self, entry: Entry) -> &'static Entry {
        if self.entries.is_empty() {
            self.entries = Box::leak(Box::new_uninit_slice(ENTRY_BLOCK));
        }
        let (slot, rest) = std::mem::take(&mut self.entries)
            .split_first_mut()
            .expect("a fresh block has room");
        self.entries = rest;
        slot.write(entry)
    }
}

fn shards() -> &'static [Mutex<Shard>; SHARDS] {
    static SHARDS_: OnceLock<[Mutex<Shard>; SHARDS]> = OnceLock::new();
    SHARDS_.get_or_init(|| std::array::from_fn(|_| Mutex::default()))
}

/// Fixed seeds: where a text is stored does not depend on the run.
fn hash_of(text: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6e65_7470_6f6c).hash_one(text)
}

impl Name {
    pub fn new(text: &str) -> Name {
        let hash = hash_of(text);
        // Middle bits pick the shard: a table finds slots by the low bits and filters them by
        // the top seven.
        let shard = &shards()[(hash >> 32) as usize % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        Name(shard.intern(text, hash))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl<T: AsRef<str> + ?Sized> From<&T> for Name {
    fn from(text: &T) -> Name {
        Name::new(text.as_ref())
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::new(&text)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0.to_string()
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::new("")
    }
}

/// One entry per text: equal names are the same entry.
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == *other.0
    }
}

/// By the entry's address, like equality.
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state);
    }
}

/// By text, so that sorted output does not depend on where names were stored.
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.0.cmp(other.0)
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_one_name_and_order_is_by_text() {
        let long = "x".repeat(TEXT_BLOCK);
        let texts = ["app", "", "kube-system", "app", "ä/ß", long.as_str(), "b"];
        let names: Vec<Name> = texts.iter().map(|&t| Name::from(t)).collect();
        for (name, text) in names.iter().zip(texts) {
            assert_eq!(name.as_str(), text);
        }
        assert!(std::ptr::eq(names[0].0, names[3].0));
        assert_eq!(names[0], names[3]);
        assert_ne!(names[0], names[6]);
        assert_eq!(Name::default(), names[1]);
        let mut sorted = names.clone();
        sorted.sort();
        let mut by_text = texts.to_vec();
        by_text.sort();
        assert_eq!(
            sorted.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            by_text
        );
        // Many names fill several blocks and grow the tables without losing any.
        let many: Vec<Name> = (0..20_000).map(|i| Name::from(&format!("n{i}"))).collect();
        for (i, name) in many.iter().enumerate() {
            assert_eq!(*name, Name::from(&format!("n{i}")));
            assert_eq!(name.as_str(), format!("n{i}"));
        }
        assert_eq!(format!("[{:>5}]", Name::from("ab")), "[   ab]");
    }
}
