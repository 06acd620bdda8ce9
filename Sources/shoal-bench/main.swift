import Netlink
let s = try RouteSocket(namespace: .current)
let mac = LinkLayerAddress("02:42:00:00:00:01")!
let r = try s.replaceNeighbours([Neighbour(device: "br0", address: .v4(10, 7, 0, 1), mac: mac)])
print(r)
let f = try s.replaceFDBEntries([FDBEntry(device: "vx0", mac: mac, destination: .v4(192, 168, 1, 1))])
print(f)
print(try s.fdbEntries(device: "vx0"))
print(try s.neighbours(device: "br0"))
