// Tensor+Storage: read-only facts about where a tensor's elements live, for loaders and their
// tests (e.g. checking that a checkpoint tensor borrows the file mapping instead of copying).

extension Tensor {
    /// True when the elements live in memory owned by another object, such as a memory-mapped
    /// checkpoint file, instead of storage this tensor allocated. Such a tensor copies its
    /// elements on its first mutation.
    public var isBorrowingFileMemory: Bool { storage.isBorrowed }
}
