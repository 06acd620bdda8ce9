import Foundation
import Testing

@testable import ShoalPKI

@Suite struct AuthorizerTests {
    func identity(_ id: String, _ role: NodeRole) -> NodeIdentity {
        NodeIdentity(
            nodeID: id, role: role, clusterID: "c", serial: "01", notValidBefore: Date(),
            notValidAfter: Date())
    }

    @Test func workerActsOnlyForItself() throws {
        let worker = identity("w1", .worker)
        try Authorizer.authorize(worker, .readFeed(nodeID: "w1"))
        try Authorizer.authorize(worker, .reportTask(nodeID: "w1"))
        try Authorizer.authorize(worker, .heartbeat(nodeID: "w1"))
        try Authorizer.authorize(worker, .renewCertificate(nodeID: "w1"))
        #expect(throws: AuthorizationError.notOwnNode(identity: "w1", requested: "w2")) {
            try Authorizer.authorize(worker, .readFeed(nodeID: "w2"))
        }
        #expect(throws: AuthorizationError.notOwnNode(identity: "w1", requested: "w2")) {
            try Authorizer.authorize(worker, .reportTask(nodeID: "w2"))
        }
        #expect(throws: AuthorizationError.notOwnNode(identity: "w1", requested: "w2")) {
            try Authorizer.authorize(worker, .renewCertificate(nodeID: "w2"))
        }
    }

    @Test func workerCannotCallAdminOrManagerRoutes() {
        let worker = identity("w1", .worker)
        #expect(throws: AuthorizationError.adminRequired(role: .worker)) {
            try Authorizer.authorize(worker, .admin)
        }
        #expect(throws: AuthorizationError.managerRequired(role: .worker)) {
            try Authorizer.authorize(worker, .managerPeer)
        }
    }

    @Test func managerIsANodeAndAPeerButNotAnAdmin() throws {
        let manager = identity("m1", .manager)
        try Authorizer.authorize(manager, .readFeed(nodeID: "m1"))
        try Authorizer.authorize(manager, .reportTask(nodeID: "m1"))
        try Authorizer.authorize(manager, .managerPeer)
        #expect(throws: AuthorizationError.notOwnNode(identity: "m1", requested: "w1")) {
            try Authorizer.authorize(manager, .reportTask(nodeID: "w1"))
        }
        #expect(throws: AuthorizationError.adminRequired(role: .manager)) {
            try Authorizer.authorize(manager, .admin)
        }
    }

    @Test func adminAdministersAndInspectsButIsNotANode() throws {
        let admin = identity("admin", .admin)
        try Authorizer.authorize(admin, .admin)
        try Authorizer.authorize(admin, .readFeed(nodeID: "w1"))
        #expect(throws: AuthorizationError.notPermitted(role: .admin, action: "report tasks of node w1")) {
            try Authorizer.authorize(admin, .reportTask(nodeID: "w1"))
        }
        #expect(throws: AuthorizationError.notPermitted(role: .admin, action: "call manager peer routes")) {
            try Authorizer.authorize(admin, .managerPeer)
        }
    }

    @Test func errorsReadClearly() {
        #expect(
            AuthorizationError.notOwnNode(identity: "w1", requested: "w2").description
                == "node w1 may not act for node w2")
        #expect(
            AuthorizationError.adminRequired(role: .worker).description
                == "admin certificate required (caller is a worker)")
    }
}
