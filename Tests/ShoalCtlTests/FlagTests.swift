import ArgumentParser
import ShoalModel
import Testing

@testable import ShoalCtlKit

@Suite struct FlagTests {
    @Test func serviceCreateBuildsTheSpec() throws {
        let command = try ServiceCreate.parse([
            "--name", "web", "--replicas", "3", "--network", "front,alias=www", "--network",
            "name=back,alias=api,alias=v1",
            "-p", "8080:80", "--publish", "mode=host,53:53/udp", "-e", "A=1", "--endpoint-mode", "vip",
            "--update-parallelism", "2", "--update-delay", "1m30s", "--update-order", "start-first",
            "--health-cmd", "curl -f localhost", "--health-interval", "5s", "--health-retries", "3",
            "--constraint", "node.labels.zone==a", "--label", "team=net", "--image", "nginx",
            "--", "http-echo", "-listen", ":80",
        ])
        let spec = try command.spec()
        #expect(
            spec
                == ServiceSpec(
                    name: "web", replicas: 3, command: ["http-echo", "-listen", ":80"], env: ["A=1"],
                    networks: [
                        NetworkAttachment(target: "front", aliases: ["www"]),
                        NetworkAttachment(target: "back", aliases: ["api", "v1"]),
                    ],
                    endpointMode: .vip,
                    ports: [
                        PortConfig(target: 80, published: 8080),
                        PortConfig(protocol: .udp, target: 53, published: 53, publishMode: .host),
                    ],
                    healthCheck: HealthCheck(
                        command: ["/bin/sh", "-c", "curl -f localhost"], intervalSeconds: 5, retries: 3),
                    updatePolicy: UpdatePolicy(parallelism: 2, delaySeconds: 90, order: .startFirst),
                    image: "nginx", labels: ["team": "net"],
                    placement: Placement(constraints: ["node.labels.zone==a"])))
    }

    @Test func healthProbeForms() throws {
        let http = try ServiceCreate.parse([
            "--name", "w", "--health-http", "8080/healthz?full=1", "--health-start-period", "10s",
            "--health-timeout", "2s", "--", "x",
        ]).spec()
        #expect(
            http.healthCheck
                == HealthCheck(
                    http: HTTPHealthProbe(port: 8080, path: "/healthz?full=1"), timeoutSeconds: 2,
                    startPeriodSeconds: 10))
        let tcp = try ServiceCreate.parse(["--name", "w", "--health-tcp", "6379", "--", "x"]).spec()
        #expect(tcp.healthCheck == HealthCheck(tcpPort: 6379))
        // An update's probe flag replaces the probe and keeps the timings; a timing flag alone keeps the probe.
        let current = ServiceSpec(
            name: "w", command: ["x"], healthCheck: HealthCheck(command: ["true"], intervalSeconds: 5))
        #expect(
            try ServiceUpdate.parse(["--health-http", "80", "w"]).apply(to: current).healthCheck
                == HealthCheck(http: HTTPHealthProbe(port: 80), intervalSeconds: 5))
        #expect(
            try ServiceUpdate.parse(["--health-retries", "1", "w"]).apply(to: current).healthCheck
                == HealthCheck(command: ["true"], intervalSeconds: 5, retries: 1))
        #expect(try ServiceUpdate.parse(["--no-healthcheck", "w"]).apply(to: current).healthCheck == nil)
    }

    @Test func serviceCreateDefaultsStayUnset() throws {
        let spec = try ServiceCreate.parse(["--name", "w", "--mode", "global", "--", "run"]).spec()
        #expect(spec == ServiceSpec(name: "w", mode: .global, command: ["run"]))
    }

    /// Each bad flag value: the message that names it.
    @Test(arguments: [
        (["--name", "w"], "service create needs the command the tasks run"),
        (
            ["--name", "w", "-p", "80:80:80", "--", "x"],
            "--publish 80:80:80: a host address is not supported; write PUBLISHED:TARGET"
        ),
        (
            ["--name", "w", "-p", "mode=edge,80", "--", "x"],
            "--publish mode=edge,80: mode must be ingress or host, not edge"
        ),
        (
            ["--name", "w", "-p", "target=80,color=red", "--", "x"],
            "--publish target=80,color=red: unknown field color (mode, target, published, protocol)"
        ),
        (["--name", "w", "-p", "published=80", "--", "x"], "--publish published=80: target= is required"),
        (["--name", "w", "-e", "NOVALUE", "--", "x"], "--env NOVALUE must look like NAME=value"),
        (
            ["--name", "w", "--network", "name=n,color=red", "--", "x"],
            "--network name=n,color=red: unknown field color"
        ),
        (["--name", "w", "--network", "alias=a", "--", "x"], "--network alias=a: name= is required"),
        (["--name", "w", "--update-delay", "soon", "--", "x"], "--update-delay soon is not a duration"),
        (
            ["--name", "w", "--health-retries", "2", "--", "x"],
            "--health-interval, --health-timeout, --health-retries and --health-start-period need"
                + " --health-cmd, --health-tcp or --health-http"
        ),
        (
            ["--name", "w", "--health-tcp", "80", "--health-cmd", "true", "--", "x"],
            "give only one of --health-cmd, --health-tcp and --health-http"
        ),
        (
            ["--name", "w", "--health-http", "web/x", "--", "x"],
            "--health-http web/x must look like PORT[/PATH]"
        ),
        (
            ["--name", "w", "--constraint", "node.zone==a", "--", "x"],
            "--constraint node.zone==a: node.zone is not node.id, node.hostname, node.role or node.labels.KEY"
        ),
        (
            ["--name", "w", "--constraint", "node.role==boss", "--", "x"],
            "--constraint node.role==boss: node.role is manager or worker"
        ),
    ])
    func serviceCreateRefuses(arguments: [String], message: String) throws {
        let command = try ServiceCreate.parse(arguments)
        #expect(throws: CtlError.self) { try command.spec() }
        do {
            _ = try command.spec()
        } catch let error as CtlError {
            #expect(error.message == message)
        }
    }

    @Test func enumFlagsRejectUnknownValues() {
        #expect(throws: (any Error).self) {
            try ServiceCreate.parse(["--name", "w", "--mode", "daemon", "--", "x"])
        }
        #expect(throws: (any Error).self) { try NodeUpdateCommand.parse(["--availability", "off", "n1"]) }
        #expect(throws: (any Error).self) { try NodeUpdateCommand.parse(["--role", "boss", "n1"]) }
    }

    @Test func scaleArguments() throws {
        let (name, replicas) = try ServiceFlags.scale("web=3")
        #expect(name == "web" && replicas == 3)
        for bad in ["web", "web=-1", "web=x", "=3x"] {
            #expect(throws: CtlError.self) { try ServiceFlags.scale(bad) }
        }
    }

    @Test func serviceUpdateAppliesAddsAndRemoves() throws {
        let current = ServiceSpec(
            name: "web", replicas: 2, command: ["old"], env: ["A=1", "B=2"],
            networks: [NetworkAttachment(target: "front")], ports: [PortConfig(target: 80, published: 8080)],
            placement: Placement(constraints: ["node.role==worker"]))
        let command = try ServiceUpdate.parse([
            "--replicas", "4", "--env-add", "B=3", "--env-add", "C=4", "--env-rm", "A", "--publish-rm", "80",
            "--publish-add", "9090:90", "--network-rm", "front", "--network-add", "back",
            "--constraint-rm", "node.role==worker", "--update-order", "start-first", "web", "--", "new",
            "arg",
        ])
        let spec = try command.apply(to: current)
        #expect(
            spec
                == ServiceSpec(
                    name: "web", replicas: 4, command: ["new", "arg"], env: ["B=3", "C=4"],
                    networks: [NetworkAttachment(target: "back")],
                    ports: [PortConfig(target: 90, published: 9090)],
                    updatePolicy: UpdatePolicy(order: .startFirst)))
        #expect(try ServiceUpdate.parse(["web"]).apply(to: current) == current)
    }

    @Test func networkCreateSpec() throws {
        let spec = try NetworkCreate.parse([
            "--subnet", "10.9.0.0/24", "--gateway", "10.9.0.254", "--internal", "--attachable", "--label",
            "a=b", "back",
        ]).spec()
        #expect(
            spec
                == NetworkSpec(
                    name: "back", subnet: CIDR("10.9.0.0/24"), gateway: IPv4Address("10.9.0.254"),
                    attachable: true,
                    internal: true, labels: ["a": "b"]))
        #expect(throws: CtlError.self) { try NetworkCreate.parse(["--subnet", "10.9.0.0", "x"]).spec() }
        #expect(throws: CtlError.self) { try NetworkCreate.parse(["--gateway", "10.9.0", "x"]).spec() }
    }

    @Test func connectionSettingsOrder() {
        let none: (String) -> Bool = { _ in false }
        let flags = ConnectionSettings(socket: "/flag.sock")
        let env = ["SHOAL_SOCKET": "/env.sock", "SHOAL_MANAGER": "10.0.0.1:2377", "SHOAL_CERT_DIR": "/certs"]
        let context = ConnectionSettings(socket: "/ctx.sock")
        #expect(
            ConnectionSettings.resolve(flags: flags, environment: env, context: context, fileExists: none)?
                .socket == "/flag.sock")
        #expect(
            ConnectionSettings.resolve(flags: .init(), environment: env, context: context, fileExists: none)?
                .socket == "/env.sock")
        let remote = ConnectionSettings.resolve(
            flags: .init(), environment: ["SHOAL_MANAGER": "10.0.0.1:2377", "SHOAL_CERT_DIR": "/certs"],
            context: context,
            fileExists: none)
        #expect(remote?.manager == "10.0.0.1:2377" && remote?.certDir == "/certs")
        #expect(
            ConnectionSettings.resolve(flags: .init(), environment: [:], context: context, fileExists: none)?
                .socket == "/ctx.sock")
        #expect(
            ConnectionSettings.resolve(
                flags: .init(), environment: [:], context: nil, fileExists: { _ in true })?.socket
                == ConnectionSettings.defaultSocket)
        #expect(
            ConnectionSettings.resolve(flags: .init(), environment: [:], context: nil, fileExists: none)
                == nil)
        #expect(
            ConnectionSettings.contextPath(environment: ["HOME": "/root"])
                == "/root/.config/shoal/context.json")
    }

    @Test func tablesAlignColumns() {
        #expect(
            Output.table(["ID", "NAME"], [["a", "web"], ["bbbb", "x"]]) == "ID     NAME\na      web\nbbbb   x"
        )
    }
}

@Suite struct HelpTests {
    /// Every command, groups included, shows an example in its --help.
    @Test func everyCommandHasAnExample() {
        func visit(_ command: any ParsableCommand.Type, _ path: String) {
            let configuration = command.configuration
            let name = path + " " + (configuration.commandName ?? "")
            if command != ShoalCtl.self {
                #expect(configuration.discussion.contains("Example: shoalctl"), "\(name) has no example")
            }
            for sub in configuration.subcommands { visit(sub, name) }
        }
        visit(ShoalCtl.self, "")
    }

    @Test func completionScriptsKnowTheCommands() {
        let bash = ShoalCtl.completionScript(for: .bash)
        #expect(bash.contains("stack") && bash.contains("deploy") && bash.contains("--compose-file"))
    }
}
