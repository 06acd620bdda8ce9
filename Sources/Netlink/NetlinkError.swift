import CNetlinkRoute
import Glibc

/// An error from the kernel or from libnl, carrying the code so callers can match it.
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A kernel errno (positive, e.g. EEXIST = 17).
        case errno(Int32)
        /// A libnl error code (positive, e.g. NLE_EXIST = 6).
        case libnl(Int32)
    }

    public let code: Code
    /// What was being done, e.g. "add link vx0".
    public let operation: String

    /// The kernel's extended-ack text, when it sent one.
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

    /// Wraps the current thread's errno.
    static func lastErrno(_ operation: String) -> NetlinkError {
        NetlinkError(.errno(Glibc.errno), operation: operation)
    }

    /// Wraps a negative return value from a libnl call.
    public static func libnl(_ returnValue: Int32, _ operation: String) -> NetlinkError {
        NetlinkError(.libnl(abs(returnValue)), operation: operation)
    }

    public var isAlreadyExists: Bool {
        switch code {
        case .errno(let value): value == EEXIST
        case .libnl(let value): value == NLE_EXIST
        }
    }

    public var isNotFound: Bool {
        switch code {
        // Deleting a missing address answers EADDRNOTAVAIL (libnl: NLE_NOADDR).
        case .errno(let value): value == ENOENT || value == ENODEV || value == ESRCH || value == EADDRNOTAVAIL
        case .libnl(let value): value == NLE_OBJ_NOTFOUND || value == NLE_NODEV || value == NLE_NOADDR
        }
    }

    public var message: String {
        switch code {
        case .errno(let value):
            guard let text = strerror(value) else { return "errno \(value)" }
            return String(cString: text)
        case .libnl(let value):
            guard let text = nl_geterror(value) else { return "libnl error \(value)" }
            return String(cString: text)
        }
    }

    /// A dump changed while it was read (NLM_F_DUMP_INTR) more often than retries allowed.
    public var isDumpInterrupted: Bool {
        code == .libnl(NLE_DUMP_INTR)
    }

    public var description: String {
        let base =
            switch code {
            case .errno(let value): "\(operation): \(message) (errno \(value))"
            case .libnl(let value): "\(operation): \(message) (libnl \(value))"
            }
        guard let detail, !detail.isEmpty else { return base }
        return base + ": " + detail
    }
}
