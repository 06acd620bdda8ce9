import Glibc
import Testing

@testable import Netlink

@Suite struct NetlinkErrorTests {
    @Test func existsAndNotFoundAreKernelErrnos() {
        #expect(NetlinkError(.errno(EEXIST), operation: "x").isAlreadyExists)
        #expect(!NetlinkError(.errno(ENOENT), operation: "x").isAlreadyExists)
        for code in [ENOENT, ENODEV, ESRCH, EADDRNOTAVAIL] {
            #expect(NetlinkError(.errno(code), operation: "x").isNotFound)
        }
        // EADDRINUSE is its own error, not "already exists" (libnl folded it into NLE_EXIST).
        #expect(!NetlinkError(.errno(EADDRINUSE), operation: "x").isAlreadyExists)
    }

    @Test func descriptionNamesOperationAndCode() {
        let error = NetlinkError(.errno(EEXIST), operation: "add link vx0")
        #expect(error.description == "add link vx0: File exists (errno 17)")
    }
}
