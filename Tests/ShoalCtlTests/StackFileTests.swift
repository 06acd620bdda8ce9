import Foundation
import ShoalModel
import Testing

@testable import ShoalCtlKit

private func parse(_ yaml: String, environment: [String: String] = [:]) throws -> StackFile {
    try StackFileParser.parse(yaml, path: "stack.yml", environment: environment)
}

private func error(_ yaml: String, environment: [String: String] = [:]) -> StackFileError? {
    do throws(StackFileError) {
        _ = try StackFileParser.parse(yaml, path: "stack.yml", environment: environment)
        return nil
    } catch {
        return error
    }
}

@Suite struct StackFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func voteExampleConverts() throws {
        let text = try String(
            contentsOf: Self.root.appendingPathComponent("examples/vote/stack.yml"), encoding: .utf8)
        let file = try parse(text, environment: ["VOTE_PORT": "5080"])
        #expect(file.warnings.isEmpty)
        #expect(file.services.map(\.name) == ["db", "redis", "result", "vote", "worker"])
        let specs = StackSpecs(file, stack: "vote")
        #expect(specs.networks.map(\.name) == ["vote_backend", "vote_frontend"])
        let backend = try #require(specs.networks.first)
        #expect(backend.subnet == CIDR("10.77.0.0/24"))
        #expect(backend.internal == true)
        #expect(backend.labels == ["shoal.stack.namespace": "vote"])
        #expect(specs.networks[1].attachable == true)
        let byName = Dictionary(uniqueKeysWithValues: specs.services.map { ($0.name, $0) })
        let vote = try #require(byName["vote_vote"])
        #expect(vote.command == ["http-echo", "-listen", ":80", "-text", "vote"])
        #expect(vote.image == "example/vote:latest")
        #expect(vote.replicas == 2)
        #expect(vote.ports == [PortConfig(target: 80, published: 5080)])
        #expect(vote.env == ["OPTION_A=Cats", "OPTION_B=Dogs"])
        #expect(vote.updatePolicy == UpdatePolicy(parallelism: 1, delaySeconds: 2, order: .startFirst))
        #expect(
            vote.healthCheck
                == HealthCheck(
                    command: ["http-check", "http://127.0.0.1/"], intervalSeconds: 10, timeoutSeconds: 2,
                    retries: 3))
        #expect(
            vote.networks == [
                NetworkAttachment(target: "vote_frontend", aliases: ["vote"]),
                NetworkAttachment(target: "vote_backend", aliases: ["vote"]),
            ])
        let result = try #require(byName["vote_result"])
        #expect(result.command == ["http-echo", "-listen", ":80", "-text", "result"])
        #expect(
            result.networks?.first
                == NetworkAttachment(target: "vote_frontend", aliases: ["result", "results"]))
        #expect(byName["vote_redis"]?.endpointMode == .dnsrr)
        #expect(byName["vote_db"]?.env == ["POSTGRES_PASSWORD=postgres"])
        #expect(byName["vote_db"]?.placement == Placement(constraints: ["node.role==worker"]))
        #expect(byName["vote_worker"]?.command == ["worker", "--redis", "redis", "--db", "db"])
        #expect(byName["vote_worker"]?.mode == .global)
        #expect(vote.labels == ["shoal.stack.namespace": "vote"])
    }

    @Test func webExampleUsesTheDefaultNetwork() throws {
        let text = try String(
            contentsOf: Self.root.appendingPathComponent("examples/web/stack.yml"), encoding: .utf8)
        let specs = StackSpecs(try parse(text), stack: "web")
        #expect(specs.networks.map(\.name) == ["web_default"])
        #expect(specs.services.first { $0.name == "web_web" }?.replicas == 3)
        #expect(
            specs.services.first { $0.name == "web_metrics" }?.ports == [
                PortConfig(target: 9100, published: 9100, publishMode: .host)
            ])
    }

    @Test func portSyntaxes() throws {
        let file = try parse(
            """
            services:
              a:
                command: x
                ports:
                  - 80
                  - "8080:80/udp"
                  - "9000-9001:7000-7001"
                  - {target: 53, published: "5353", protocol: udp, mode: host}
            """)
        #expect(
            file.services[0].ports == [
                PortConfig(target: 80),
                PortConfig(protocol: .udp, target: 80, published: 8080),
                PortConfig(target: 7000, published: 9000), PortConfig(target: 7001, published: 9001),
                PortConfig(protocol: .udp, target: 53, published: 5353, publishMode: .host),
            ])
    }

    @Test func environmentListMapAndSubstitution() throws {
        let file = try parse(
            """
            services:
              a:
                command: "run --name '${NAME:-anon}' $$HOME"
                environment: [A=1, B, "C=${MISSING-}"]
              b:
                command: [run]
                environment: {X: "${SET:-d}", Y: ~}
            """, environment: ["B": "from-shell", "SET": ""])
        #expect(file.services[0].command == ["run", "--name", "anon", "$HOME"])
        #expect(file.services[0].env == ["A=1", "B=from-shell", "C="])
        #expect(file.services[1].env == ["X=d"])
    }

    @Test func unknownAndIgnoredKeysWarnWithTheirLine() throws {
        let file = try parse(
            """
            version: "3"
            services:
              a:
                command: x
                colour: blue
                depends_on: [b]
                deploy:
                  resources: {limits: {cpus: "0.5"}}
              b:
                command: y
            volumes: {data: {}}
            """)
        #expect(
            file.warnings == [
                "stack.yml:5: warning: unknown key 'colour' in service a is ignored",
                "stack.yml:6: warning: service a: 'depends_on' is not supported by Shoal and is ignored",
                "stack.yml:8: warning: service a: deploy.resources is not supported by Shoal and is ignored",
                "stack.yml:11: warning: 'volumes' is not supported by Shoal and is ignored",
            ])
    }

    @Test func healthcheckForms() throws {
        let file = try parse(
            """
            services:
              a:
                command: x
                healthcheck: {test: ["CMD-SHELL", "curl -f localhost"], interval: 1m30s, start_period: 5s}
              b:
                command: x
                healthcheck: {test: ["NONE"]}
            """)
        #expect(
            file.services[0].healthCheck
                == HealthCheck(
                    command: ["/bin/sh", "-c", "curl -f localhost"], intervalSeconds: 90,
                    startPeriodSeconds: 5))
        #expect(file.services[1].healthCheck == nil)
    }

    @Test func externalNetworkKeepsItsName() throws {
        let file = try parse(
            """
            services:
              a: {command: x, networks: [shared]}
            networks:
              shared: {external: {name: corp-net}}
            """)
        let specs = StackSpecs(file, stack: "s")
        #expect(specs.networks.isEmpty)
        #expect(specs.externalNetworks == ["corp-net"])
        #expect(specs.services[0].networks == [NetworkAttachment(target: "corp-net", aliases: ["a"])])
    }

    @Test func yamlSyntaxErrorsHaveLineAndColumn() {
        let failure = error("services:\n  a:\n    command: [x\n    ports: 1\n")
        #expect(failure?.line == 4)
        #expect(failure?.message.hasPrefix("invalid YAML:") == true)
        let tabs = error("services:\n\ta: {}\n")
        #expect(tabs?.line == 2)
        #expect(tabs?.column == 1)
    }

    /// Every invalid field a file can have: the message, at the line and column of the value.
    @Test(arguments: [
        ("services: {}\nnetworks: {}\n", 1, 11, "'services' is empty"),
        ("networks: {}\n", 1, 1, "the file has no 'services'"),
        ("- a\n", 1, 1, "the file must be a mapping"),
        (
            "services:\n  a: {image: nginx}\n", 2, 3,
            "service a has image nginx but no command: a Shoal task runs its command (raw exec), not an image; add 'command:'"
        ),
        (
            "services:\n  a: {}\n", 2, 3,
            "service a has no command: add 'command:' with the program the task runs"
        ),
        ("services:\n  a: {command: \"x 'y\"}\n", 2, 16, "service a: command has an unclosed quote"),
        ("services:\n  a: {command: [x], image: [1]}\n", 2, 28, "service a: image must be a string"),
        ("services:\n  a: {command: x, environment: 3}\n", 2, 32, "service a: environment must be a mapping"),
        (
            "services:\n  a: {command: x, environment: [\"=v\"]}\n", 2, 33,
            "service a: environment entry '=v' has no name"
        ),
        (
            "services:\n  a: {command: x, deploy: {replicas: -1}}\n", 2, 38,
            "service a: deploy.replicas must be between 0 and 10000, not -1"
        ),
        (
            "services:\n  a: {command: x, deploy: {replicas: two}}\n", 2, 38,
            "service a: deploy.replicas must be an integer, not 'two'"
        ),
        (
            "services:\n  a: {command: x, deploy: {mode: daemon}}\n", 2, 34,
            "service a: deploy.mode must be replicated or global, not daemon"
        ),
        (
            "services:\n  a: {command: x, deploy: {mode: global, replicas: 2}}\n", 2, 3,
            "service a: deploy.replicas cannot be set with deploy.mode global"
        ),
        (
            "services:\n  a: {command: x, deploy: {endpoint_mode: rr}}\n", 2, 43,
            "service a: deploy.endpoint_mode must be vip or dnsrr, not rr"
        ),
        (
            "services:\n  a: {command: x, deploy: {update_config: {parallelism: -2}}}\n", 2, 57,
            "service a: deploy.update_config.parallelism must be between 0 and 10000, not -2"
        ),
        (
            "services:\n  a: {command: x, deploy: {update_config: {delay: soon}}}\n", 2, 51,
            "service a: deploy.update_config.delay must be a duration such as 10s, 1m30s or 500ms, not 'soon'"
        ),
        (
            "services:\n  a: {command: x, deploy: {update_config: {order: random}}}\n", 2, 51,
            "service a: deploy.update_config.order must be start-first or stop-first, not random"
        ),
        (
            "services:\n  a: {command: x, deploy: {placement: {constraints: [\"node.zone==a\"]}}}\n", 2, 54,
            "service a: deploy.placement.constraints: node.zone==a: node.zone is not node.id, node.hostname, node.role or node.labels.KEY"
        ),
        (
            "services:\n  a: {command: x, deploy: {placement: {constraints: [\"node.role=worker\"]}}}\n", 2,
            54,
            "service a: deploy.placement.constraints: node.role=worker must look like node.hostname==NAME, node.role!=manager or node.labels.KEY==VALUE"
        ),
        (
            "services:\n  a: {command: x, ports: [\"1.2.3.4:80:80\"]}\n", 2, 27,
            "service a: ports: 1.2.3.4:80:80: a host address is not supported; write PUBLISHED:TARGET"
        ),
        (
            "services:\n  a: {command: x, ports: [\"70000:80\"]}\n", 2, 27,
            "service a: ports: 70000:80: 70000 is not a port number 1-65535"
        ),
        (
            "services:\n  a: {command: x, ports: [\"80/sctp\"]}\n", 2, 27,
            "service a: ports: 80/sctp: protocol must be tcp or udp, not sctp"
        ),
        (
            "services:\n  a: {command: x, ports: [\"1-3:1-2\"]}\n", 2, 27,
            "service a: ports: 1-3:1-2: the published and target ranges must have the same length"
        ),
        (
            "services:\n  a: {command: x, ports: [{published: 80}]}\n", 2, 27,
            "service a: ports: target is required in the long syntax"
        ),
        (
            "services:\n  a: {command: x, ports: [{target: 80, mode: local}]}\n", 2, 46,
            "service a: ports: mode must be ingress or host, not local"
        ),
        (
            "services:\n  a: {command: x, ports: [{target: 0}]}\n", 2, 36,
            "service a: ports: target must be between 1 and 65535, not 0"
        ),
        (
            "services:\n  a: {command: x, expose: [\"80:80\"]}\n", 2, 28,
            "service a: expose: 80:80 publishes nothing; write PORT[/PROTOCOL]"
        ),
        (
            "services:\n  a: {command: x, networks: [nope]}\n", 2, 30,
            "service a uses network nope, which the top-level 'networks' does not declare"
        ),
        (
            "services:\n  a: {command: x, networks: {n: {aliases: 3}}}\n", 2, 43,
            "service a: networks.n.aliases must be a list"
        ),
        (
            "services:\n  a: {command: x, healthcheck: {test: [\"RUN\", \"x\"]}}\n", 2, 39,
            "service a: healthcheck.test as a list starts with CMD, CMD-SHELL or NONE"
        ),
        (
            "services:\n  a: {command: x, healthcheck: {test: [\"CMD\"]}}\n", 2, 39,
            "service a: healthcheck.test must name a command"
        ),
        (
            "services:\n  a: {command: x, healthcheck: {test: x, interval: 0s}}\n", 2, 52,
            "service a: healthcheck.interval must be more than 0"
        ),
        (
            "services:\n  a: {command: x, healthcheck: {test: x, retries: many}}\n", 2, 51,
            "service a: healthcheck.retries must be an integer, not 'many'"
        ),
        (
            "services:\n  a: {command: \"${NEED:?set NEED}\"}\n", 2, 16,
            "service a: command: variable NEED is required: set NEED"
        ),
        (
            "services:\n  a: {command: \"${NEED\"}\n", 2, 16,
            "service a: command: ${NEED: '${' has no closing '}'"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {driver: bridge}\n", 4, 15,
            "network n: driver must be overlay (Shoal networks are overlays), not bridge"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {attachable: maybe}\n", 4, 19,
            "network n: attachable must be true or false, not 'maybe'"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {ipam: {config: [{subnet: 10.1.0.0/33}]}}\n", 4,
            32,
            "network n: subnet must be an IPv4 CIDR such as 10.0.9.0/24, not '10.1.0.0/33'"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {ipam: {config: [{subnet: 10.1.0.1/24}]}}\n", 4,
            32,
            "network n: subnet 10.1.0.1/24 has host bits set; did you mean 10.1.0.0/24?"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {ipam: {config: [{subnet: 10.1.0.0/24}, {subnet: 10.2.0.0/24}]}}\n",
            4, 22,
            "network n: ipam.config holds one subnet in Shoal, not 2"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {ipam: {driver: dhcp}}\n", 4, 22,
            "network n: ipam.driver must be default, not dhcp"
        ),
        (
            "services:\n  a: {command: x}\nnetworks:\n  n: {external: true, internal: true}\n", 4, 3,
            "network n is external: it cannot also set ipam, attachable or internal"
        ),
    ])
    func invalidField(yaml: String, line: Int, column: Int, message: String) {
        let failure = error(yaml)
        #expect(failure?.message == message)
        #expect(failure?.line == line)
        #expect(failure?.column == column)
    }

    @Test func interpolationRules() throws {
        let env = ["SET": "v", "EMPTY": ""]
        #expect(
            try Interpolation.substitute("${SET:-d}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}", environment: env)
                == "v/d//d")
        #expect(
            try Interpolation.substitute("$SET-$$-${SET:+alt}-${UNSET:+alt}", environment: env) == "v-$-alt-")
        #expect(throws: Interpolation.Failure.self) { try Interpolation.substitute("$1", environment: env) }
    }
}
