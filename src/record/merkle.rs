//! RFC 6962 / RFC 9162 Merkle tree over the audit log's lines.
//!
//! Leaf hash = SHA-256(0x00 || line bytes without the newline), node =
//! SHA-256(0x01 || left || right), the tree over n leaves splits at the
//! largest power of two below n, and the empty tree's hash is SHA-256 of
//! nothing. A signed checkpoint of (size, root) then pins the first `size`
//! lines: any later change, removal or truncation changes the root at that
//! size, and an inclusion proof shows one record is in the log without
//! the rest of it.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// RFC 6962 leaf hash of one log line (without its newline).
pub fn leaf_hash(line: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(line);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Incremental tree: keeps only the roots of the perfect subtrees that make
/// up the current size (one per set bit), so appending is O(log n) and the
/// root at every size can be taken while reading a log once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first.
    peaks: Vec<Hash>,
}

impl CompactTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        // Each trailing set bit of the old size is a peak of equal height
        // that merges with the new one.
        while s & 1 == 1 {
            if let Some(left) = self.peaks.pop() {
                h = node_hash(&left, &h);
            }
            s >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// Root hash at the current size.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        // The RFC's split at the largest power of two makes the root the
        // right fold of the peaks.
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Root of the tree over `leaves`.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut t = CompactTree::new();
    for l in leaves {
        t.push(*l);
    }
    t.root()
}

/// Largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// RFC 6962 audit path (PATH(m, D[n])) of leaf `index` in the tree over
/// `leaves`, nearest sibling first. `None` if `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0usize, leaves.len(), index);
    // Walk down from the root, collecting the sibling subtree at each
    // level; reversed at the end so the leaf's sibling comes first.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            path.push(root_of(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(root_of(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Some(path)
}

/// RFC 9162 section 2.1.3.2: does `path` prove `leaf` at `index` in the tree
/// of `size` leaves whose root is `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH(D[n]) exactly as RFC 6962 section 2.1 defines it, recursively.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]) exactly as RFC 6962 section 2.1.1 defines it.
    fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = reference_path(m, &leaves[..k]);
            p.push(reference_root(&leaves[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &leaves[k..]);
            p.push(reference_root(&leaves[..k]));
            p
        }
    }

    fn unhex(s: &str) -> Hash {
        let mut h = [0u8; 32];
        hex::decode_to_slice(s, &mut h).expect("hex");
        h
    }

    /// The RFC 6962 test vectors (leaves and roots of sizes 0..8) used by the
    /// Certificate Transparency implementations.
    #[test]
    fn roots_match_rfc6962_test_vectors() {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves: Vec<Hash> = inputs.iter().map(|d| leaf_hash(d)).collect();
        assert_eq!(empty_root(), unhex(roots[0]));
        assert_eq!(root_of(&[]), unhex(roots[0]));
        let mut t = CompactTree::new();
        for (n, want) in roots.iter().enumerate().skip(1) {
            t.push(leaves[n - 1]);
            assert_eq!(hex::encode(t.root()), *want, "size {n}");
            assert_eq!(
                reference_root(&leaves[..n]),
                unhex(want),
                "reference, size {n}"
            );
        }
        // Published audit paths for leaves 0 and 5 of the 8-leaf tree.
        assert_eq!(
            inclusion_proof(&leaves, 0).expect("in range"),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
            .map(unhex)
        );
        assert_eq!(
            inclusion_proof(&leaves, 5).expect("in range"),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
            .map(unhex)
        );
    }

    /// The incremental tree and the proofs agree with the spec's recursive
    /// definitions for every size 1..40 and every leaf, and proofs fail for
    /// any other leaf, index, size or root.
    #[test]
    fn incremental_tree_and_proofs_match_the_recursive_definition_up_to_40() {
        let leaves: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut t = CompactTree::new();
        for n in 1..=leaves.len() {
            t.push(leaves[n - 1]);
            let tree = &leaves[..n];
            let root = reference_root(tree);
            assert_eq!(t.root(), root, "size {n}");
            assert_eq!(t.size(), n as u64);
            assert_eq!(root_of(tree), root);
            for m in 0..n {
                let path = inclusion_proof(tree, m).expect("in range");
                assert_eq!(path, reference_path(m, tree), "size {n} leaf {m}");
                let (idx, size) = (m as u64, n as u64);
                assert!(verify_inclusion(&tree[m], idx, size, &path, &root));
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(&other, idx, size, &path, &root));
                assert!(!verify_inclusion(&tree[m], idx, size, &path, &other));
                if n > 1 {
                    let wrong = (m + 1) % n;
                    assert!(!verify_inclusion(
                        &tree[m],
                        wrong as u64,
                        size,
                        &path,
                        &root
                    ));
                    if n < leaves.len() {
                        // The root binds the size: against the next tree's
                        // root the old path fails.
                        let next = reference_root(&leaves[..=n]);
                        assert!(!verify_inclusion(&tree[m], idx, size + 1, &path, &next));
                    }
                    assert!(!verify_inclusion(&tree[m], idx, size, &path[1..], &root));
                }
                assert!(!verify_inclusion(&tree[m], size, size, &path, &root));
            }
        }
        assert!(inclusion_proof(&leaves, 40).is_none());
    }
}
