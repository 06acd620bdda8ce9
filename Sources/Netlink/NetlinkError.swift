import Glibc

/// An error from the kernel, carrying its errno so callers can match it: one code space, the
/// kernel's (libnl's own codes never reach callers; they map lossily, e.g. EADDRINUSE to
/// NLE_EXIST). `detail` carries the kernel's extended-ack text when it sent one.
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A kernel errno (positive, e.g. EEXIST = 17).
        case errno(Int32)
    }

    public let code: Code
    /// What was being done, e.g. "add link vx0".
    public let operation: String

    /// The kernel's extended-ack text, when it sent one, or what Shoal found wrong.
    public let detail: String?

    public init(_ code: Code, operation: String, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    /// Wraps a positive errno value.
    public static func errno(_ value: Int32, _ operation: String, detail: String? = nil) -> NetlinkError {
        NetlinkError(.errno(abs(value)), operation: operation, detail: detail)
    }

    /// Wraps the current thread's errno; call it right after the failing libc call.
    static func lastErrno(_ operation: String) -> NetlinkError {
        NetlinkError(.errno(Glibc.errno), operation: operation)
    }

    /// The errno value.
    public var errno: Int32 {
        switch code {
        case .errno(let value): value
        }
    }

    public var isAlreadyExists: Bool { errno == EEXIST }

    /// Deleting a missing address answers EADDRNOTAVAIL, a missing link ENODEV, a missing IPVS
    /// service ESRCH.
    public var isNotFound: Bool {
        errno == ENOENT || errno == ENODEV || errno == ESRCH || errno == EADDRNOTAVAIL
    }

    public var message: String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }

    /// A dump changed while it was read (NLM_F_DUMP_INTR) more often than retries allowed, or
    /// its entries did not match the link table read with it: read it again later.
    public var isDumpInterrupted: Bool {
        errno == EINTR && detail?.hasPrefix(NetlinkError.inconsistentDump) == true
    }

    static let inconsistentDump = "the table changed while it was read"

    /// A dump that kept changing (EINTR, with a detail saying so).
    static func dumpInterrupted(_ operation: String) -> NetlinkError {
        .errno(EINTR, operation, detail: inconsistentDump)
    }

    public var description: String {
        let base = "\(operation): \(message) (errno \(errno))"
        guard let detail, !detail.isEmpty else { return base }
        return base + ": " + detail
    }
}
