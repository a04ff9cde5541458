// Tensor+Storage: read-only facts about where a tensor's elements live, for loaders and their
// tests (e.g. checking that a checkpoint tensor borrows the file mapping instead of copying).

extension Tensor {
    /// True when the elements live in memory owned by another object, such as a memory-mapped
    /// checkpoint file, instead of storage this tensor allocated. Such a tensor copies its
    /// elements on its first mutation.
    public var isBorrowingFileMemory: Bool { storage.isBorrowed }
}

extension Tensor {
    /// True when no other tensor value shares this one's storage, so writing through
    /// `withUnsafeMutablePointer` will not copy. Buffer pools use it to reuse a tensor in place
    /// once its consumers have let go of it.
    public mutating func isUniquelyReferenced() -> Bool { isKnownUniquelyReferenced(&storage) }
}
