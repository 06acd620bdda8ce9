import CNetlinkRoute
import Glibc
import Testing

@testable import Netlink

@Suite struct NetlinkErrorTests {
    @Test func existsMatchesBothKernelAndLibnlCodes() {
        #expect(NetlinkError(.errno(EEXIST), operation: "x").isAlreadyExists)
        #expect(NetlinkError.libnl(-NLE_EXIST, "x").isAlreadyExists)
        #expect(!NetlinkError(.errno(ENOENT), operation: "x").isAlreadyExists)
    }

    @Test func notFoundMatchesBothKernelAndLibnlCodes() {
        #expect(NetlinkError(.errno(ENOENT), operation: "x").isNotFound)
        #expect(NetlinkError.libnl(-NLE_OBJ_NOTFOUND, "x").isNotFound)
        #expect(!NetlinkError.libnl(-NLE_EXIST, "x").isNotFound)
    }

    @Test func descriptionNamesOperationAndCode() {
        let error = NetlinkError(.errno(EEXIST), operation: "add link vx0")
        #expect(error.description == "add link vx0: File exists (errno 17)")
    }
}
