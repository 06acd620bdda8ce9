import ShoalModel
import Yams

/// One entry under `services:`.
enum ServiceParser {
    static let ignored: Set<String> = [
        "container_name", "depends_on", "volumes", "restart", "logging", "secrets", "configs", "user",
        "working_dir", "hostname", "stop_grace_period", "ulimits", "build", "cap_add", "cap_drop", "sysctls",
    ]

    static func parse(_ entry: YAMLWalker.Entry, _ walker: inout YAMLWalker) throws(StackFileError)
        -> StackService
    {
        let name = entry.key
        let what = "service \(name)"
        var service = StackService(
            name: name, image: nil, command: [], env: [], mode: nil, replicas: nil, endpointMode: nil,
            updatePolicy: nil, constraints: [], ports: [], networks: [], healthCheck: nil, labels: [:])
        var entrypoint: [String] = []
        var command: [String] = []
        for field in try walker.entries(entry.value, what) {
            let value = field.value
            switch field.key {
            case "image": service.image = try walker.string(value, "\(what): image")
            case "command": command = try walker.command(value, "\(what): command")
            case "entrypoint": entrypoint = try walker.command(value, "\(what): entrypoint")
            case "environment":
                for (key, text) in try walker.keyValues(value, "\(what): environment") {
                    // Compose takes a name without a value from the deploying shell; unset stays unset.
                    if let text = text ?? walker.environment[key] { service.env.append("\(key)=\(text)") }
                }
            case "deploy": try parseDeploy(value, into: &service, what: what, &walker)
            case "ports":
                for item in try walker.sequence(value, "\(what): ports") {
                    service.ports += try PortParser.parse(item, what: "\(what): ports", &walker)
                }
            case "expose":
                // As in Swarm, every port of a task is reachable on its networks: checked, nothing to do.
                for item in try walker.sequence(value, "\(what): expose") {
                    _ = try PortParser.exposed(item, what: "\(what): expose", &walker)
                }
            case "networks": service.networks = try parseNetworks(value, what: what, &walker)
            case "healthcheck": service.healthCheck = try parseHealthCheck(value, what: what, &walker)
            case "labels":
                walker.warn(
                    field.keyNode,
                    "\(what): container 'labels' are ignored; service labels go under deploy.labels")
            default:
                if ignored.contains(field.key) {
                    walker.warn(
                        field.keyNode, "\(what): '\(field.key)' is not supported by Shoal and is ignored")
                } else {
                    walker.unknown(field, in: what)
                }
            }
        }
        service.command = entrypoint + command
        if service.command.isEmpty {
            let reason =
                service.image.map {
                    "has image \($0) but no command: a Shoal task runs its command (raw exec), not an image; add 'command:'"
                } ?? "has no command: add 'command:' with the program the task runs"
            throw walker.fail(entry.keyNode, "\(what) \(reason)")
        }
        if service.mode == .global, service.replicas != nil {
            throw walker.fail(entry.keyNode, "\(what): deploy.replicas cannot be set with deploy.mode global")
        }
        return service
    }

    static func parseDeploy(
        _ node: YAMLNode, into service: inout StackService, what: String, _ walker: inout YAMLWalker
    ) throws(StackFileError) {
        for field in try walker.entries(node, "\(what): deploy") {
            let value = field.value
            let label = "\(what): deploy.\(field.key)"
            switch field.key {
            case "replicas": service.replicas = try walker.int(value, label, range: 0...10_000)
            case "mode":
                let text = try walker.string(value, label)
                guard let mode = ServiceModeKind(rawValue: text) else {
                    throw walker.fail(value, "\(label) must be replicated or global, not \(text)")
                }
                service.mode = mode
            case "endpoint_mode":
                let text = try walker.string(value, label)
                guard let mode = EndpointMode(rawValue: text) else {
                    throw walker.fail(value, "\(label) must be vip or dnsrr, not \(text)")
                }
                service.endpointMode = mode
            case "update_config": service.updatePolicy = try parseUpdateConfig(value, label: label, &walker)
            case "placement":
                for item in try walker.entries(value, label) {
                    guard item.key == "constraints" else {
                        walker.warn(
                            item.keyNode, "\(label).\(item.key) is not supported by Shoal and is ignored")
                        continue
                    }
                    for constraintNode in try walker.sequence(item.value, "\(label).constraints") {
                        let text = try walker.string(constraintNode, "\(label).constraints")
                        do throws(PlacementError) {
                            _ = try PlacementConstraint(parsing: text)
                        } catch {
                            throw walker.fail(constraintNode, "\(label).constraints: \(error.description)")
                        }
                        service.constraints.append(text)
                    }
                }
            case "labels":
                for (key, text) in try walker.keyValues(value, label) { service.labels[key] = text ?? "" }
            case "resources", "restart_policy", "rollback_config":
                walker.warn(field.keyNode, "\(label) is not supported by Shoal and is ignored")
            default: walker.unknown(field, in: "\(what): deploy")
            }
        }
    }

    static func parseUpdateConfig(_ node: YAMLNode, label: String, _ walker: inout YAMLWalker)
        throws(StackFileError)
        -> UpdatePolicy
    {
        var policy = UpdatePolicy()
        for field in try walker.entries(node, label) {
            let value = field.value
            switch field.key {
            case "parallelism":
                policy.parallelism = try walker.int(value, "\(label).parallelism", range: 0...10_000)
            case "delay": policy.delaySeconds = try walker.duration(value, "\(label).delay")
            case "order":
                let text = try walker.string(value, "\(label).order")
                guard let order = UpdateOrder(rawValue: text) else {
                    throw walker.fail(value, "\(label).order must be start-first or stop-first, not \(text)")
                }
                policy.order = order
            case "failure_action":
                let text = try walker.string(value, "\(label).failure_action")
                if text != "pause" {
                    walker.warn(
                        field.keyNode,
                        "\(label).failure_action: Shoal always pauses a failed update; '\(text)' is ignored")
                }
            case "monitor", "max_failure_ratio":
                walker.warn(field.keyNode, "\(label).\(field.key) is not supported by Shoal and is ignored")
            default: walker.unknown(field, in: label)
            }
        }
        return policy
    }

    static func parseNetworks(_ node: YAMLNode, what: String, _ walker: inout YAMLWalker)
        throws(StackFileError)
        -> [NetworkAttachment]
    {
        if case .sequence = node {
            return try walker.strings(node, "\(what): networks").map { NetworkAttachment(target: $0) }
        }
        var result: [NetworkAttachment] = []
        for entry in try walker.entries(node, "\(what): networks") {
            var attachment = NetworkAttachment(target: entry.key)
            if !walker.isNull(entry.value) {
                for field in try walker.entries(entry.value, "\(what): networks.\(entry.key)") {
                    guard field.key == "aliases" else {
                        walker.unknown(field, in: "\(what): networks.\(entry.key)")
                        continue
                    }
                    attachment.aliases = try walker.strings(
                        field.value, "\(what): networks.\(entry.key).aliases")
                }
            }
            result.append(attachment)
        }
        return result
    }

    static func parseHealthCheck(_ node: YAMLNode, what: String, _ walker: inout YAMLWalker)
        throws(StackFileError)
        -> HealthCheck?
    {
        let label = "\(what): healthcheck"
        var check = HealthCheck(command: [])
        var disabled = false
        var testNode: YAMLNode?
        for field in try walker.entries(node, label) {
            let value = field.value
            switch field.key {
            case "test":
                testNode = value
                if case .sequence = value {
                    let words = try walker.strings(value, "\(label).test")
                    switch words.first ?? "" {
                    case "NONE": disabled = true
                    case "CMD": check.command = Array(words.dropFirst())
                    case "CMD-SHELL":
                        check.command = ["/bin/sh", "-c", words.dropFirst().joined(separator: " ")]
                    default:
                        throw walker.fail(value, "\(label).test as a list starts with CMD, CMD-SHELL or NONE")
                    }
                } else {
                    check.command = ["/bin/sh", "-c", try walker.string(value, "\(label).test")]
                }
            case "interval": check.intervalSeconds = try positive(value, "\(label).interval", &walker)
            case "timeout": check.timeoutSeconds = try positive(value, "\(label).timeout", &walker)
            case "retries": check.retries = try walker.int(value, "\(label).retries", range: 0...1000)
            case "disable": disabled = try walker.bool(value, "\(label).disable")
            case "start_period":
                check.startPeriodSeconds = try walker.duration(value, "\(label).start_period")
            case "start_interval":
                walker.warn(field.keyNode, "\(label).\(field.key) is not supported by Shoal and is ignored")
            default: walker.unknown(field, in: label)
            }
        }
        if disabled { return nil }
        guard !check.command.isEmpty else {
            throw walker.fail(testNode ?? node, "\(label).test must name a command")
        }
        return check
    }

    private static func positive(_ node: YAMLNode, _ label: String, _ walker: inout YAMLWalker)
        throws(StackFileError)
        -> Double
    {
        let seconds = try walker.duration(node, label)
        guard seconds > 0 else { throw walker.fail(node, "\(label) must be more than 0") }
        return seconds
    }
}
