/// TTLs of Shoal's own records. Task addresses change on every failover and rescheduling, and the
/// server sits on the task's loopback, so asking again is nearly free: 10 s bounds how long a client
/// keeps a dead task's address. A VIP outlives its tasks (it changes only when the service is
/// re-created), so it may be cached longer. NODATA answers carry an SOA whose minimum is 10 s too.
public enum LocalTTL {
    public static let taskAddress: UInt32 = 10
    public static let virtualIP: UInt32 = 60
    public static let negative: UInt32 = 10
}
