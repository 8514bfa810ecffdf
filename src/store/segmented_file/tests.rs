//! Unit tests of segmented files.

use super::*;
use crate::runtime::run_unpinned;

const SEG: u64 = 64 * 1024;

fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    run_unpinned("segfile-test", 1 << 20, f).unwrap();
}

async fn append_all(f: &mut SegmentedFile, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        if let Some(start) = f.missing_segment() {
            let seg =
                SegmentedFile::create_segment(f.dir().to_owned(), start, SEG, Allocation::Whole)
                    .await
                    .unwrap();
            f.install_segment(seg);
        }
        let n = (f.room_in_segment() as usize).min(rest.len());
        f.append(&rest[..n]);
        rest = &rest[n..];
    }
}

async fn flush(f: &mut SegmentedFile, sync: bool) {
    let batch = f.take_flush();
    batch.run(sync).await.unwrap();
    f.complete_flush(&batch);
}

fn on_disk(dir: &Path, total: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for start in list_segments(dir).unwrap() {
        let bytes = std::fs::read(dir.join(segment_name(start))).unwrap();
        assert_eq!(bytes.len() as u64, SEG, "preallocated to full size");
        out.extend_from_slice(&bytes);
    }
    out.truncate(total as usize);
    out
}

#[test]
fn appends_of_any_size_land_on_disk_across_chunks_and_segments() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0, Allocation::Whole)
            .await
            .unwrap();
        let mut expect = Vec::new();
        // Odd sizes so partial blocks are rewritten many times; flush every few appends.
        for i in 0..400u32 {
            let piece: Vec<u8> = (0..(i * 37 % 1500 + 1)).map(|j| (i + j) as u8).collect();
            append_all(&mut f, &piece).await;
            expect.extend_from_slice(&piece);
            if i % 7 == 0 {
                flush(&mut f, i % 14 == 0).await;
            }
            // Unflushed bytes are readable from memory.
            let at = expect.len() as u64 - piece.len() as u64;
            let mut got = vec![0; piece.len()];
            if at >= f.written() {
                assert!(f.copy_from_memory(at, &mut got));
                assert_eq!(got, piece);
            }
        }
        flush(&mut f, true).await;
        assert_eq!(f.written(), expect.len() as u64);
        assert!(expect.len() as u64 > 3 * SEG, "test must cross segments");
        assert_eq!(on_disk(dir.path(), f.end()), expect);
    });
}

#[test]
fn reopen_with_seeded_tail_continues_in_place() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0, Allocation::Whole)
            .await
            .unwrap();
        append_all(&mut f, &[7u8; 5000]).await;
        flush(&mut f, true).await;
        drop(f);
        let mut g = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 5000, Allocation::Whole)
            .await
            .unwrap();
        let tail = std::fs::read(dir.path().join(segment_name(0))).unwrap()[4096..5000].to_vec();
        g.seed_tail(&tail);
        append_all(&mut g, &[9u8; 100]).await;
        flush(&mut g, true).await;
        let disk = on_disk(dir.path(), 5100);
        assert!(disk[..5000].iter().all(|b| *b == 7));
        assert!(disk[5000..].iter().all(|b| *b == 9));
    });
}

#[test]
fn failed_flush_is_replanned_and_old_segments_are_removed() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0, Allocation::Whole)
            .await
            .unwrap();
        append_all(&mut f, &vec![1u8; (3 * SEG) as usize + 10]).await;
        let first = f.take_flush();
        assert!(!first.is_empty());
        f.abort_flush();
        let again = f.take_flush();
        assert_eq!(again.end, first.end);
        again.run(true).await.unwrap();
        f.complete_flush(&again);
        assert_eq!(f.segment_starts(), vec![0, SEG, 2 * SEG, 3 * SEG]);
        let freed = f.remove_segments_before(2 * SEG + 5).unwrap();
        assert_eq!(freed, 2 * SEG);
        assert_eq!(f.first_offset(), 2 * SEG);
        assert!(f.segment_for(100).is_none());
        assert_eq!(f.segment_for(3 * SEG + 1).unwrap().start, 3 * SEG);
    });
}

/// Bytes of disk a file occupies (st_blocks × 512).
fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_stepped_file_claims_space_as_it_fills_and_reopens_without_claiming_the_rest() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let seg_bytes = 4 * MAX_CLAIM_STEP_BYTES;
        let mut f = SegmentedFile::open(dir.path(), seg_bytes, 16 * 1024, 0, Allocation::Stepped)
            .await
            .unwrap();
        let mut claims = Vec::new();
        let piece = [7u8; 1000];
        let total = 3 * MAX_CLAIM_STEP_BYTES;
        while f.end() < total {
            while let Some(need) = f.space_needed(piece.len() as u64) {
                match need {
                    SpaceNeed::Segment(start) => {
                        let seg = SegmentedFile::create_segment(
                            f.dir().to_owned(),
                            start,
                            seg_bytes,
                            Allocation::Stepped,
                        )
                        .await
                        .unwrap();
                        f.install_segment(seg);
                    }
                    SpaceNeed::Claim { seg, upto } => {
                        claims.push(upto);
                        claim_space(&seg, upto).await.unwrap();
                        f.record_claim(seg.start, upto);
                    }
                }
            }
            f.append(&piece);
        }
        flush(&mut f, true).await;
        // Claims double from 4 KiB, then grow by at most a step; never past the segment.
        assert_eq!(claims[0], 2 * MIN_CLAIM_BYTES);
        assert!(claims.windows(2).all(|w| w[1] > w[0]), "{claims:?}");
        assert!(claims
            .windows(2)
            .all(|w| w[1] - w[0] <= MAX_CLAIM_STEP_BYTES.max(w[0])));
        assert!(*claims.last().unwrap() <= seg_bytes);
        let path = dir.path().join(segment_name(0));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            seg_bytes,
            "full size"
        );
        let used = allocated_bytes(&path);
        assert!(used >= f.end(), "{used} allocated for {} written", f.end());
        assert!(
            used <= f.end() + 2 * MAX_CLAIM_STEP_BYTES,
            "{used} allocated for {} written",
            f.end()
        );
        drop(f);
        // Recovery cuts back to a shorter end and does not claim the whole segment.
        let g = SegmentedFile::recover_open(
            dir.path(),
            seg_bytes,
            16 * 1024,
            5000,
            Allocation::Stepped,
        )
        .await
        .unwrap();
        assert_eq!(g.end(), 5000);
        assert!(allocated_bytes(&path) < seg_bytes / 2);
        assert_eq!(&on_disk_any(dir.path(), 5000)[..], &[7u8; 5000][..]);
    });
}

/// The first `total` bytes of the file, whatever its segments' allocation.
fn on_disk_any(dir: &Path, total: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for start in list_segments(dir).unwrap() {
        out.extend_from_slice(&std::fs::read(dir.join(segment_name(start))).unwrap());
    }
    out.truncate(total as usize);
    out
}

#[test]
fn sealed_only_rounds_write_filled_chunks_and_leave_the_tail_for_a_full_round() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        // MIN_CHUNK_BYTES-sized chunks fill after a block or two; 20-byte records as an index.
        let mut f = SegmentedFile::open(dir.path(), SEG, 16 * 1024, 0, Allocation::Whole)
            .await
            .unwrap();
        let mut expect = Vec::new();
        let mut rounds_with_writes = 0;
        for i in 0..2_000u32 {
            let rec: Vec<u8> = (0..20).map(|j| (i * 7 + j) as u8).collect();
            append_all(&mut f, &rec).await;
            expect.extend_from_slice(&rec);
            if i % 10 == 9 {
                let batch = f.take_flush_sealed();
                // Whatever it plans ends on a chunk boundary: whole blocks only.
                assert_eq!(
                    batch.end % BLOCK_BYTES,
                    0,
                    "sealed-only round ends mid-block"
                );
                rounds_with_writes += usize::from(!batch.is_empty());
                batch.run(false).await.unwrap();
                f.complete_flush(&batch);
            }
        }
        // 200 rounds, but a write only when a chunk filled.
        assert!(
            rounds_with_writes > 0 && rounds_with_writes < 40,
            "{rounds_with_writes}"
        );
        assert!(f.has_unplanned(), "the partial tail waits");
        let total = expect.len() as u64;
        assert_ne!(on_disk(dir.path(), total), expect, "tail not written yet");
        flush(&mut f, true).await;
        assert!(!f.has_unplanned());
        assert_eq!(on_disk(dir.path(), total), expect);
    });
}

#[test]
fn the_read_cache_counts_allocated_bytes_and_compacts_partial_chunks() {
    run(|| async {
        let dir = tempfile::tempdir().unwrap();
        // Chunks up to 64 KiB: the first chunk is 16 KiB, each round seals it with ~100 bytes.
        let mut f = SegmentedFile::open(dir.path(), SEG, 64 * 1024, 0, Allocation::Whole)
            .await
            .unwrap();
        f.set_cache_bytes(1 << 20);
        let mut expect = Vec::new();
        for i in 0..20u8 {
            let piece = vec![i; 100];
            append_all(&mut f, &piece).await;
            expect.extend_from_slice(&piece);
            flush(&mut f, false).await;
        }
        // Each round's chunk is the partial tail block rewritten, holding every byte of the
        // chunks cached before it that start in that block: 2,000 bytes cost one compacted
        // block, not 20 chunk allocations of 16 KiB.
        assert_eq!(f.cached_bytes(), BLOCK_BYTES as usize);
        assert!(f.recent.iter().all(|c| c.alloc_bytes == c.buf.len()));
        // Cached bytes read back exactly.
        let mut got = vec![0; expect.len()];
        assert!(f.copy_from_memory(0, &mut got));
        assert_eq!(got, expect);
        // Past the first block, chunks start in the second one: the chunk that crossed into
        // it and the newest stay cached, each counted at its allocation.
        for i in 20..60u8 {
            let piece = vec![i; 100];
            append_all(&mut f, &piece).await;
            expect.extend_from_slice(&piece);
            flush(&mut f, false).await;
        }
        assert_eq!(f.recent.len(), 2);
        let held: usize = f.recent.iter().map(|c| c.alloc_bytes).sum();
        assert_eq!(f.cached_bytes(), held);
        assert!(held < CACHE_COMPACT_RATIO * 3 * BLOCK_BYTES as usize);
        let mut got = vec![0; expect.len()];
        assert!(f.copy_from_memory(0, &mut got));
        assert_eq!(got, expect);
        // A budget of one block keeps the newest only.
        f.set_cache_bytes(BLOCK_BYTES as usize);
        assert_eq!(f.cached_bytes(), BLOCK_BYTES as usize);
        assert!(!f.copy_from_memory(0, &mut got[..10]));
    });
}
