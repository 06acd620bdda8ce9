import Netlink
let s = try IPVSSocket(namespace: .current)
let key = ServiceKey.address(.tcp, .v4(10, 0, 0, 1), port: 80)
do { try s.addService(VirtualService(key: key)) } catch { print(error) }
do { try s.addDestination(Destination(address: .v4(10, 1, 0, 2), port: 8080), to: key) } catch { print(error) }
print(try s.state())
