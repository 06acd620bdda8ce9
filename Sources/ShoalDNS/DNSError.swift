/// Why a DNS message could not be read, with the byte offset where reading stopped.
public enum DNSError: Error, Equatable, Sendable {
    /// The message ends inside a field.
    case truncated(at: Int)
    /// A name is longer than 255 bytes on the wire.
    case nameTooLong(at: Int)
    /// A compression pointer that does not point strictly backwards (it could loop).
    case badPointer(at: Int)
    /// A label type other than a length or a pointer (0x40 and 0x80 are reserved).
    case badLabelType(at: Int)
    /// A record's data does not fill exactly its declared length.
    case badRecordLength(at: Int)
    /// Text that is not a valid name (an empty label, a label over 63 bytes, over 255 in total).
    case invalidName(String)
}

/// A socket the server or forwarder could not set up, with the errno of the failed call.
public struct DNSSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call) failed: errno \(errno)" }
}
