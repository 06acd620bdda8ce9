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

    public init(_ code: Code, operation: String) {
        self.code = code
        self.operation = operation
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
        case .errno(let value): value == ENOENT || value == ENODEV || value == ESRCH
        case .libnl(let value): value == NLE_OBJ_NOTFOUND || value == NLE_NODEV
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

    public var description: String {
        switch code {
        case .errno(let value): "\(operation): \(message) (errno \(value))"
        case .libnl(let value): "\(operation): \(message) (libnl \(value))"
        }
    }
}
