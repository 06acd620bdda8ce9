import ShoalModel

/// Turns Docker-style flag values into spec fields; every failure names the flag and the fix.
enum ServiceFlags {
    /// `NET`, `NET,alias=A` or `name=NET,alias=A,alias=B` (Docker's long form).
    static func network(_ text: String) throws(CtlError) -> NetworkAttachment {
        var target: String?
        var aliases: [String] = []
        for (index, item) in text.split(separator: ",").enumerated() {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            if index == 0 && !item.contains("=") {
                target = String(item)
                continue
            }
            guard pair.count == 2, !pair[1].isEmpty else {
                throw CtlError(
                    "--network \(text): \(item) must be KEY=VALUE", hint: "--network name=NET,alias=A")
            }
            switch pair[0] {
            case "name", "target": target = pair[1]
            case "alias": aliases.append(pair[1])
            default:
                throw CtlError(
                    "--network \(text): unknown field \(pair[0])", hint: "fields are name and alias")
            }
        }
        guard let target else { throw CtlError("--network \(text): name= is required") }
        return NetworkAttachment(target: target, aliases: aliases.isEmpty ? nil : aliases)
    }

    static func ports(_ values: [String]) throws(CtlError) -> [PortConfig] {
        var ports: [PortConfig] = []
        for value in values {
            do throws(PortSyntax.Failure) {
                ports += try PortSyntax.flag(value)
            } catch {
                throw CtlError(
                    "--publish \(error.message)", hint: "--publish 8080:80, 53:53/udp, mode=host,8080:80")
            }
        }
        return ports
    }

    static func env(_ values: [String]) throws(CtlError) -> [String] {
        for value in values where !value.contains("=") || value.hasPrefix("=") {
            throw CtlError("--env \(value) must look like NAME=value")
        }
        return values
    }

    /// `KEY=VALUE` pairs (labels); a bare KEY gets an empty value, as in Docker.
    static func labels(_ values: [String], flag: String) throws(CtlError) -> [String: String] {
        var labels: [String: String] = [:]
        for value in values {
            let pair = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(
                String.init)
            guard !pair[0].isEmpty else { throw CtlError("\(flag) \(value) has no name") }
            labels[pair[0]] = pair.count == 2 ? pair[1] : ""
        }
        return labels
    }

    static func constraints(_ values: [String]) throws(CtlError) -> [String] {
        for value in values {
            do throws(PlacementError) {
                _ = try PlacementConstraint(parsing: value)
            } catch {
                throw CtlError("--constraint \(error.description)")
            }
        }
        return values
    }

    /// Docker durations for `--update-delay`: `10s`, `1m30s`, `500ms`, or seconds.
    static func seconds(_ text: String, flag: String) throws(CtlError) -> Double {
        guard let seconds = DurationSyntax.seconds(text) else {
            throw CtlError("\(flag) \(text) is not a duration", hint: "write 10s, 1m30s or 500ms")
        }
        return seconds
    }

    /// `web=3` for `service scale`.
    static func scale(_ text: String) throws(CtlError) -> (String, Int) {
        let pair = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2, let replicas = Int(pair[1]), replicas >= 0 else {
            throw CtlError(
                "\(text) must look like SERVICE=REPLICAS", hint: "shoalctl service scale web=3 api=2")
        }
        return (pair[0], replicas)
    }
}
